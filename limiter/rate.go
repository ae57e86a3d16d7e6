package limiter

import "github.com/relayd/relayd/ratelimit"

// The limiter's rates are ratelimit's, re-exported so configuration reads
// limiter.Rate.
type (
	Rate                    = ratelimit.Rate
	KeyedRate[K comparable] = ratelimit.KeyedRate[K]
)

// NoRate is the Rate that never refuses.
var NoRate = ratelimit.NoRate

// NewKeyedRate is ratelimit.NewKeyedRate.
func NewKeyedRate[K comparable](r Rate, maxKeys int) *KeyedRate[K] {
	return ratelimit.NewKeyedRate[K](r, maxKeys)
}

// IPKey is ratelimit.IPKey; SubnetKey is ratelimit.SubnetKey.
var (
	IPKey     = ratelimit.IPKey
	SubnetKey = ratelimit.SubnetKey
)
