-- KEYS: res:<peer>, all, nodes, node:<node>:peers, ip:<ip>, net:<subnet>
-- ARGV: P, now, peer, node, exp, addr, ip, net, cap total, cap ip, cap net,
--       reap limit, register ("1": re-registration, which never takes a
--       live slot over from another node)
-- Returns 1 (refresh of a live slot), 0 (new slot), 2 (register: another
-- node holds the slot; nothing written), or the refused quota: "total",
-- "ip", "net". A cap < 0 is none; an empty ip or net is not counted.
reap(tonumber(ARGV[12]))
local peer, node, exp, addr, ipk, netk = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local capTotal, capIP, capNet = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local function over(k, cap)
  if cap < 0 then return false end
  trim(k)
  return redis.call('ZCARD', k) >= cap
end

local old = record(peer)
local held = false
if old then
  if tonumber(old.exp) > now and alive(old.node) then
    held = true
  else
    unlink(peer, old)
  end
end
if held and ARGV[13] == '1' and old.node ~= node then return 2 end
-- A refresh from the same IP keeps its slot without a check, so a quota
-- lowered since never drops a held slot; a move to another IP or subnet
-- needs room there.
if not (held and old.ip == ipk) then
  if not held and over(KEYS[2], capTotal) then return 'total' end
  if ipk ~= '' and over(KEYS[5], capIP) then return 'ip' end
  if netk ~= '' and not (held and old.net == netk) and over(KEYS[6], capNet) then return 'net' end
end
if held then
  if old.ip ~= ipk and old.ip ~= '' then redis.call('ZREM', P .. 'ip:' .. old.ip, peer) end
  if old.net ~= netk and old.net ~= '' then redis.call('ZREM', P .. 'net:' .. old.net, peer) end
  if old.node ~= node then redis.call('ZREM', P .. 'node:' .. old.node .. ':peers', peer) end
end
local ttl = exp - now
local function index(k)
  redis.call('ZADD', k, exp, peer)
  touch(k, ttl)
end
index(KEYS[2])
index(KEYS[4])
if ipk ~= '' then index(KEYS[5]) end
if netk ~= '' then index(KEYS[6]) end
redis.call('HSET', KEYS[1], 'node', node, 'exp', ARGV[5], 'addr', addr, 'ip', ipk, 'net', netk)
redis.call('PEXPIRE', KEYS[1], math.max(ttl, 1))
if held then return 1 end
return 0
