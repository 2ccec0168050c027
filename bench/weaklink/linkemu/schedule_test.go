package linkemu

import (
	"math"
	"slices"
	"testing"
	"time"
)

const ms = time.Millisecond

// TestSchedulerExact checks delay, rate and queue arithmetic packet by
// packet on a fake clock.
func TestSchedulerExact(t *testing.T) {
	type pkt struct {
		now  time.Duration
		size int
		at   time.Duration // when delivered
		v    verdict
	}
	tests := []struct {
		name  string
		shape Shape
		pkts  []pkt
	}{
		{"pass-through", Shape{}, []pkt{{0, 100, 0, deliver}, {5 * ms, 1500, 5 * ms, deliver}}},
		{"fixed delay", Shape{Delay: 80 * ms}, []pkt{
			{0, 100, 80 * ms, deliver}, {1 * ms, 100, 81 * ms, deliver}, {500 * ms, 1500, 580 * ms, deliver}}},
		{"rate serialises a burst", Shape{RateKbps: 1000}, []pkt{ // 1250 B = 10 ms at 1 Mbit/s
			{0, 1250, 10 * ms, deliver}, {0, 1250, 20 * ms, deliver}, {0, 1250, 30 * ms, deliver},
			{100 * ms, 1250, 110 * ms, deliver}}},
		{"rate then delay", Shape{RateKbps: 1000, Delay: 50 * ms}, []pkt{
			{0, 1250, 60 * ms, deliver}, {0, 1250, 70 * ms, deliver}}},
		{"tail drop at the queue limit", Shape{RateKbps: 1000, QueueBytes: 5000}, []pkt{
			{0, 1250, 10 * ms, deliver}, {0, 1250, 20 * ms, deliver}, {0, 1250, 30 * ms, deliver},
			{0, 1250, 40 * ms, deliver}, {0, 1250, 0, dropQueue}, {0, 100, 0, dropQueue},
			// 10 ms later one packet has left: room for one more.
			{10 * ms, 1250, 50 * ms, deliver}, {10 * ms, 1250, 0, dropQueue}}},
		{"default queue is about 300 ms", Shape{RateKbps: 400}, func() []pkt {
			// 400 kbit/s × 300 ms = 15000 B = 10 packets of 1500 B (30 ms each).
			var ps []pkt
			for i := range 10 {
				ps = append(ps, pkt{0, 1500, time.Duration(i+1) * 30 * ms, deliver})
			}
			return append(ps, pkt{0, 1500, 0, dropQueue})
		}()},
		{"all lost", Shape{LossPct: 100, Delay: 10 * ms}, []pkt{{0, 100, 0, dropLoss}, {1 * ms, 100, 0, dropLoss}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler(tt.shape, 1)
			for i, p := range tt.pkts {
				at, v := s.admit(p.now, p.size)
				if v != p.v || (v == deliver && at != p.at) {
					t.Errorf("packet %d (t=%v, %d B): got %v verdict %d, want %v verdict %d", i, p.now, p.size, at, v, p.at, p.v)
				}
			}
		})
	}
}

// TestSchedulerShapeChangeKeepsQueue: a slower rate applies to packets
// behind the ones already queued, which keep their schedule.
func TestSchedulerShapeChangeKeepsQueue(t *testing.T) {
	s := newScheduler(Shape{RateKbps: 1000, Delay: 100 * ms}, 1)
	a1, _ := s.admit(0, 1250)
	a2, _ := s.admit(0, 1250)
	s.shape = Shape{RateKbps: 500} // and no delay any more
	a3, _ := s.admit(0, 1250)
	if a1 != 110*ms || a2 != 120*ms || a3 != 120*ms {
		t.Errorf("got %v %v %v; want 110ms 120ms 120ms (the last waits behind the delayed ones)", a1, a2, a3)
	}
	// The 4th is on the wire until 20 + 2×20 ms (1250 B at 500 kbit/s)
	// and still leaves behind the delayed ones.
	if a4, _ := s.admit(0, 1250); a4 != 120*ms || s.wireFree != 60*ms {
		t.Errorf("4th packet at %v, wire free at %v; want 120ms, 60ms", a4, s.wireFree)
	}
}

// TestSchedulerStatistics checks jitter and loss against their
// configured distribution, with fixed seeds.
func TestSchedulerStatistics(t *testing.T) {
	tests := []struct {
		name                   string
		shape                  Shape
		every                  time.Duration // inter-arrival time
		n                      int
		wantLoss               float64 // fraction
		wantMean, wantSD, tolD time.Duration
	}{
		{"no jitter", Shape{Delay: 80 * ms}, 10 * ms, 2000, 0, 80 * ms, 0, 0},
		{"sparse jitter keeps its distribution", Shape{Delay: 80 * ms, Jitter: 20 * ms}, 500 * ms, 20000, 0, 80 * ms, 20 * ms, 1 * ms},
		{"jitter clamps at zero", Shape{Jitter: 30 * ms}, 500 * ms, 20000, 0, 12 * ms, 0, 1 * ms}, // E[max(0,N(0,σ))] = σ/√(2π)
		{"dense jitter never reorders", Shape{Delay: 80 * ms, Jitter: 20 * ms}, 1 * ms, 20000, 0, 0, 0, 0},
		{"3% loss", Shape{LossPct: 3}, 1 * ms, 100000, 0.03, 0, 0, 0},
		{"1% loss with delay", Shape{LossPct: 1, Delay: 80 * ms, Jitter: 20 * ms}, 10 * ms, 100000, 0.01, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler(tt.shape, 42)
			var delays []float64
			lost := 0
			var last time.Duration
			for i := range tt.n {
				now := time.Duration(i) * tt.every
				at, v := s.admit(now, 1000)
				if v == dropLoss {
					lost++
					continue
				}
				if at < now {
					t.Fatalf("packet %d leaves at %v before it arrives at %v", i, at, now)
				}
				if at < last {
					t.Fatalf("packet %d leaves at %v, before packet ahead of it at %v", i, at, last)
				}
				last = at
				delays = append(delays, float64(at-now))
			}
			loss := float64(lost) / float64(tt.n)
			if tol := 0.1*tt.wantLoss + 0.001; math.Abs(loss-tt.wantLoss) > tol {
				t.Errorf("loss %.4f, want %.4f ± %.4f", loss, tt.wantLoss, tol)
			}
			if tt.wantMean == 0 && tt.wantSD == 0 {
				return
			}
			mean, sd := meanSD(delays)
			if math.Abs(mean-float64(tt.wantMean)) > float64(tt.tolD) ||
				(tt.wantSD > 0 && math.Abs(sd-float64(tt.wantSD)) > float64(tt.tolD)) {
				t.Errorf("delay mean %v sd %v, want %v sd %v (± %v)", time.Duration(mean), time.Duration(sd), tt.wantMean, tt.wantSD, tt.tolD)
			}
			if tt.shape.Jitter > 0 && tt.shape.Delay == 0 && slices.Min(delays) != 0 {
				t.Errorf("shortest delay %v, want clamped to 0", time.Duration(slices.Min(delays)))
			}
		})
	}
}

func meanSD(xs []float64) (float64, float64) {
	var sum, sq float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	for _, x := range xs {
		sq += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sq / float64(len(xs)))
}

func TestShapeValidate(t *testing.T) {
	for _, s := range []Shape{{Delay: -1}, {Jitter: -ms}, {LossPct: -1}, {LossPct: 101}, {LossPct: math.NaN()}, {RateKbps: -5}, {QueueBytes: -1}} {
		if s.Validate() == nil {
			t.Errorf("%+v accepted", s)
		}
	}
	if err := (Shape{Delay: 150 * ms, Jitter: 30 * ms, LossPct: 3, RateKbps: 768}).Validate(); err != nil {
		t.Error(err)
	}
}
