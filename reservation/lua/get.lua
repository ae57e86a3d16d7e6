-- KEYS: res:<peer>, nodes
-- ARGV: P, now, peer
-- Returns {node, exp, addr} of a live reservation whose node is alive, or nil.
local rec = record(ARGV[3])
if not rec or tonumber(rec.exp) <= now or not alive(rec.node) then return false end
return {rec.node, rec.exp, rec.addr}
