-- KEYS: node:<node>:peers, nodes, node:<node>
-- ARGV: P, now, node, limit
-- Drops up to limit of node's reservations; when none is left, the node
-- leaves the registry. Returns how many are left.
drain(ARGV[3], tonumber(ARGV[4]))
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('DEL', KEYS[3])
end
return left
