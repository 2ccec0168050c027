// Package retry holds the reconnect schedule every publisher of the box
// shares: the first retry at once, since most drops on a village link are
// one-off, then jittered exponential growth up to a cap.
package retry

import (
	"math/rand/v2"
	"time"
)

// Delay is the wait before retry number attempt (counting from 0): none for
// the first; then lo, growing ×1.6 per failed attempt up to hi, each drawn
// uniformly from [d/2, d] so many boxes behind one tower do not retry in
// step.
func Delay(lo, hi time.Duration, attempt int) time.Duration {
	if attempt <= 0 {
		return 0
	}
	d := float64(lo)
	for range attempt - 1 {
		d *= 1.6
		if d >= float64(hi) {
			d = float64(hi)
			break
		}
	}
	return time.Duration(d/2 + rand.Float64()*d/2)
}
