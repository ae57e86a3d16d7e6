-- Shared by every script (prepended). ARGV[1] is the key prefix ending in
-- "{fleet}:", ARGV[2] the caller's clock in Unix ms. Every key a script
-- touches carries the same hash tag, so in a Redis Cluster all of them live
-- in one slot.
local P = ARGV[1]
local now = tonumber(ARGV[2])

-- touch keeps k alive for at least ttl ms from now; a key's TTL only grows,
-- so it outlives every member written into it.
local function touch(k, ttl)
  if ttl < 1 then ttl = 1 end
  if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
end

local function alive(node)
  local s = redis.call('ZSCORE', P .. 'nodes', node)
  return s ~= false and tonumber(s) > now
end

local function record(peer)
  local f = redis.call('HMGET', P .. 'res:' .. peer, 'node', 'exp', 'addr', 'ip', 'net')
  if not f[1] then return nil end
  return {node = f[1], exp = f[2], addr = f[3] or '', ip = f[4] or '', net = f[5] or ''}
end

-- unlink drops peer's record and its entry in every index.
local function unlink(peer, rec)
  redis.call('ZREM', P .. 'all', peer)
  if rec.ip ~= '' then redis.call('ZREM', P .. 'ip:' .. rec.ip, peer) end
  if rec.net ~= '' then redis.call('ZREM', P .. 'net:' .. rec.net, peer) end
  redis.call('ZREM', P .. 'node:' .. rec.node .. ':peers', peer)
  redis.call('DEL', P .. 'res:' .. peer)
end

-- drain removes up to limit of node's reservations; once none is left the
-- node leaves the registry. It returns how many entries it looked at.
local function drain(node, limit)
  local set = P .. 'node:' .. node .. ':peers'
  local peers = redis.call('ZRANGE', set, 0, limit - 1)
  for _, peer in ipairs(peers) do
    local rec = record(peer)
    if rec and rec.node == node then unlink(peer, rec) end
    redis.call('ZREM', set, peer)
  end
  if redis.call('ZCARD', set) == 0 then redis.call('ZREM', P .. 'nodes', node) end
  return #peers
end

-- reap drains nodes whose heartbeat lapsed, up to limit entries in all.
local function reap(limit)
  local n = 0
  local dead = redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', now, 'LIMIT', 0, 16)
  for _, d in ipairs(dead) do
    if n >= limit then break end
    n = n + drain(d, limit - n)
  end
  return n
end

local function trim(k)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
end
