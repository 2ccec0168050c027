package linkemu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Shape is what one direction of the link does to packets.
type Shape struct {
	// Delay is the one-way latency added to every packet.
	Delay time.Duration
	// Jitter is the standard deviation of a normal variation around
	// Delay (clamped at zero). Packets still leave in order: one whose
	// draw is short waits for the one ahead of it, as in a cellular
	// modem's queue, so heavy jitter at high packet rates raises the
	// mean delay a little rather than reordering.
	Jitter time.Duration
	// LossPct drops this percentage of packets at random.
	LossPct float64
	// RateKbps, when positive, limits the link to this many kbit/s
	// with a tail-drop queue of QueueBytes in front of it.
	RateKbps int
	// QueueBytes bounds what waits for the rate limiter; 0 means about
	// 300 ms at RateKbps (as the bench's tbf "latency 300ms"), at least
	// a few full-size packets.
	QueueBytes int
}

// Validate reports a shape that cannot be emulated.
func (s Shape) Validate() error {
	switch {
	case s.Delay < 0 || s.Jitter < 0:
		return fmt.Errorf("linkemu: negative delay %v or jitter %v", s.Delay, s.Jitter)
	case math.IsNaN(s.LossPct) || s.LossPct < 0 || s.LossPct > 100:
		return fmt.Errorf("linkemu: loss %v%% is not within 0..100", s.LossPct)
	case s.RateKbps < 0 || s.QueueBytes < 0:
		return fmt.Errorf("linkemu: negative rate %d kbit/s or queue %d bytes", s.RateKbps, s.QueueBytes)
	}
	return nil
}

func (s Shape) queueLimit() int {
	if s.QueueBytes > 0 {
		return s.QueueBytes
	}
	return max(4*1500, s.RateKbps*1000/8*300/1000)
}

// verdict is what becomes of one packet.
type verdict uint8

const (
	deliver verdict = iota
	dropLoss
	dropQueue
)

// scheduler decides, for one direction, whether a packet arriving at a
// given time is lost or queued out, and when it leaves otherwise. It is
// pure arithmetic on durations since the link's start, so tests drive it
// with a fake clock.
type scheduler struct {
	shape Shape
	rng   *rand.Rand
	// wireFree is when the rate limiter has sent everything it holds.
	wireFree time.Duration
	// lastOut is when the previous packet leaves; no packet leaves
	// before it.
	lastOut time.Duration
}

func newScheduler(s Shape, seed uint64) *scheduler {
	return &scheduler{shape: s, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// admit takes a packet of size bytes arriving at now.
func (s *scheduler) admit(now time.Duration, size int) (time.Duration, verdict) {
	if s.shape.LossPct > 0 && s.rng.Float64()*100 < s.shape.LossPct {
		return 0, dropLoss
	}
	sent := now
	if rate := s.shape.RateKbps; rate > 0 {
		start := max(now, s.wireFree)
		// kbit/s is bits per millisecond.
		backlog := int(int64(start-now) * int64(rate) / 8 / int64(time.Millisecond))
		if backlog+size > s.shape.queueLimit() {
			return 0, dropQueue
		}
		sent = start + time.Duration(int64(size)*8*int64(time.Millisecond)/int64(rate))
		s.wireFree = sent
	}
	d := s.shape.Delay
	if s.shape.Jitter > 0 {
		d += time.Duration(s.rng.NormFloat64() * float64(s.shape.Jitter))
		d = max(d, 0)
	}
	at := max(sent+d, s.lastOut)
	s.lastOut = at
	return at, deliver
}
