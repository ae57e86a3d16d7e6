-- KEYS: res:<peer>, all, node:<node>:peers
-- ARGV: P, now, peer, node
-- Drops peer's reservation if node holds it. Returns 1 if it did.
local peer, node = ARGV[3], ARGV[4]
redis.call('ZREM', KEYS[3], peer)
local rec = record(peer)
if rec and rec.node == node then
  unlink(peer, rec)
  return 1
end
return 0
