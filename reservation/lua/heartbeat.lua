-- KEYS: nodes, node:<node>
-- ARGV: P, now, node, ttl, mesh address, reap limit
-- Marks node alive for ttl ms, publishes its mesh address, and reaps dead
-- nodes' entries (every node is a janitor; scripts are atomic, so no lock).
-- Returns {1 if node was alive before, live nodes, entries reaped}.
local node, ttl = ARGV[3], tonumber(ARGV[4])
local s = redis.call('ZSCORE', KEYS[1], node)
local was = 0
if s ~= false and tonumber(s) > now then was = 1 end
local reaped = reap(tonumber(ARGV[6]))
redis.call('ZADD', KEYS[1], now + ttl, node)
touch(KEYS[1], ttl)
redis.call('SET', KEYS[2], ARGV[5], 'PX', ttl)
return {was, redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf'), reaped}
