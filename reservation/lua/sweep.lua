-- KEYS: node:<node>:peers, nodes
-- ARGV: P, now, node, limit
-- Drops up to limit of node's reservations expired at now and returns them
-- as a flat list: peer, exp, addr, ...
local node, limit = ARGV[3], tonumber(ARGV[4])
local out = {}
local peers = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
for i = 1, #peers, 2 do
  local peer = peers[i]
  local rec = record(peer)
  redis.call('ZREM', KEYS[1], peer)
  if rec and rec.node == node then
    if tonumber(rec.exp) <= now then
      unlink(peer, rec)
      table.insert(out, peer); table.insert(out, rec.exp); table.insert(out, rec.addr)
    end
  elseif not rec then
    -- Redis expired the record itself; the node still has to hear of it.
    table.insert(out, peer); table.insert(out, peers[i + 1]); table.insert(out, '')
  end
end
return out
