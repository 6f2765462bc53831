package testkit

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 to 100) of ds, interpolating
// linearly between the two nearest values, so that the 50th percentile of
// an even number of values is the mean of the middle two. It returns 0 for
// no values.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := p / 100 * float64(len(sorted)-1)
	lo, hi := int(math.Floor(rank)), int(math.Ceil(rank))
	frac := rank - float64(lo)
	return sorted[lo] + time.Duration(math.Round(frac*float64(sorted[hi]-sorted[lo])))
}
