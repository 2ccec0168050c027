package whip

import (
	"time"

	"github.com/cunbo/cunbo/stream/bitrate"
)

// videoGate holds video back while the path visibly cannot carry it.
//
// The encoder changes rate only at a keyframe about half a second after it
// is told, and WHIP has no pacer (a pacer at GCC's estimate is an
// unbounded queue behind live). When the estimate collapses, say the
// uplink dropping from 4 to 1 Mbit/s, everything sent until that keyframe
// is lost on the path and, worse, its UDP crowds any TCP stream sharing
// the uplink (the box's RTMP publisher) off the link for seconds. So once
// the estimate has fallen to well under what video is sending, video is
// dropped until the next keyframe (the encoder's cut, usually), as a
// WebRTC sender's frame dropper would: WHIP viewers see a short freeze
// they would have seen anyway, audio keeps flowing.
type videoGate struct {
	// start is when the session began: its first seconds carry the
	// fan-out's catch-up from the last keyframe in a burst, and GCC's
	// reaction to that burst, neither of which says anything about the
	// link.
	start time.Time
	// sent measures the video actually sent; nil until the first unit.
	sent *bitrate.Meter
	// peak is the estimate's recent maximum, so that an estimate still
	// climbing from its start value is not taken for a collapse.
	peak   int
	peakAt time.Time
	closed bool
}

const (
	// gateWindow is how far back the video send rate is measured.
	gateWindow = time.Second
	// gateOver: video sending more than this many times the estimate.
	gateOver = 1.5
	// gateFallen: an estimate below this share of its recent peak has
	// fallen (GCC cuts to 85 % of what arrived on overuse; climbs are
	// about 8 % a second).
	gateFallen = 0.7
	// gatePeakHold is how long a peak is remembered.
	gatePeakHold = 3 * time.Second
	// gateWarmup is how long after the session starts the gate stays open.
	gateWarmup = 3 * time.Second
)

// admit says whether a video unit of n bytes goes out now, given GCC's
// current estimate in bit/s (0: unknown). Once it has said no, it says no
// until a keyframe.
func (g *videoGate) admit(now time.Time, key bool, n int, estimate int) bool {
	if g.sent == nil {
		g.sent = bitrate.NewMeter(gateWindow, 10)
	}
	if estimate > 0 && (estimate >= g.peak || now.Sub(g.peakAt) > gatePeakHold) {
		g.peak, g.peakAt = estimate, now
	}
	if key {
		if g.closed {
			// What was sent before the pause says nothing about the
			// rate from this keyframe on (usually the encoder's cut).
			g.sent.Reset()
		}
		g.closed = false
	} else if !g.closed && now.Sub(g.start) >= gateWarmup && estimate > 0 && float64(estimate) < gateFallen*float64(g.peak) &&
		float64(g.rate(now)) > gateOver*float64(estimate) {
		g.closed = true
	}
	if g.closed {
		return false
	}
	g.sent.Add(now, uint64(n))
	return true
}

// rate is the video send rate over the window, bit/s.
func (g *videoGate) rate(now time.Time) int64 {
	if g.sent == nil {
		return 0
	}
	return g.sent.WindowBitsPerSecond(now)
}
