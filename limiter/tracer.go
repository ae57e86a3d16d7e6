package limiter

// Tracer receives the limiter's decisions; Metrics implements it. Methods
// must be cheap and must not block: they run under the limiter's lock.
type Tracer interface {
	// Decided follows every decision on a request: result is "ok" or the
	// refusal reason, class the requester's class ("denied" for ACL
	// refusals).
	Decided(req Request, class, result string)
}

// NopTracer ignores every decision; it is the default.
type NopTracer struct{}

func (NopTracer) Decided(Request, string, string) {}
