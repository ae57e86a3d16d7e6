-- KEYS: nodes, node:<node>
-- ARGV: P, now, node
-- Returns the mesh address node published, or nil once its heartbeat has
-- lapsed (judged by the callers' clock, like every expiry).
if not alive(ARGV[3]) then return false end
return redis.call('GET', KEYS[2]) or ''
