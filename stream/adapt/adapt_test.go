package adapt

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// simLink models one output's link: a bottleneck of capacity cap(t) kbit/s
// with a queue in front. RTMP links expose the queue and the acknowledged
// rate; WHIP links expose a congestion-control estimate that, like GCC,
// cannot see far above what is actually being sent.
type simLink struct {
	name    string
	whip    bool
	cap     func(t float64) float64
	backlog float64 // bits
	down    func(t float64) bool
}

type simResult struct {
	t, sent, cap []float64 // per step, kbit/s (sent includes audio)
	decisions    []Decision
}

// simulate runs the controller over links for dur seconds; the encoder
// takes encDelay seconds to apply a change, as a GOP-aligned switch does.
func simulate(c *Controller, links []*simLink, dur, encDelay float64) simResult {
	const dt = 0.25
	const audio = 100.0
	enc := float64(c.Current().VideoKbps)
	type pending struct {
		at   float64
		kbps float64
	}
	var queue []pending
	var r simResult
	epoch := time.Unix(1000, 0)
	for t := 0.0; t < dur; t += dt {
		for len(queue) > 0 && queue[0].at <= t {
			enc, queue = queue[0].kbps, queue[1:]
		}
		send := enc + audio
		minCap := math.Inf(1)
		var sigs []Signal
		for _, l := range links {
			capNow := l.cap(t)
			if l.down != nil && l.down(t) {
				sigs = append(sigs, Signal{Name: l.name})
				l.backlog = 0
				continue
			}
			minCap = math.Min(minCap, capNow)
			s := Signal{Name: l.name, Connected: true}
			if l.whip {
				s.EstimateBps = int(1000 * math.Min(capNow, 1.5*send+100))
				s.SentBps = int(1000 * send)
			} else {
				l.backlog = math.Max(0, l.backlog+(send-capNow)*1000*dt)
				if l.backlog > capNow*1000*3 { // the fan-out skips a GOP
					l.backlog /= 4
				}
				s.SentBps = int(send * 1000)
				if l.backlog > 0 {
					s.ThroughputBps = int(capNow * 1000)
				} else {
					s.ThroughputBps = int(send * 1000)
				}
				// TCP's view: 40 ms of path plus the standing queue;
				// unacknowledged bytes are one round trip in flight, the
				// bottleneck's queue included.
				rtt := 0.040 + l.backlog/(capNow*1000)
				s.RTT = time.Duration(rtt * float64(time.Second))
				s.BacklogBytes = int(float64(s.ThroughputBps) * rtt / 8)
			}
			sigs = append(sigs, s)
		}
		d := c.Step(epoch.Add(time.Duration(t*float64(time.Second))), sigs)
		if d.Changed {
			queue = append(queue, pending{t + encDelay, float64(d.VideoKbps)})
		}
		r.t = append(r.t, t)
		r.sent = append(r.sent, send)
		r.cap = append(r.cap, minCap)
		r.decisions = append(r.decisions, d)
	}
	return r
}

func stepCap(before, after, at, back float64) func(float64) float64 {
	return func(t float64) float64 {
		if t >= at && (back <= 0 || t < back) {
			return after
		}
		return before
	}
}

// firstAfter is the first time ≥ from at which ok holds and keeps holding
// for hold seconds; -1 if never.
func firstAfter(r simResult, from, hold float64, ok func(i int) bool) float64 {
	start := -1.0
	for i, t := range r.t {
		if t < from {
			continue
		}
		if ok(i) {
			if start < 0 {
				start = t
			}
			if t-start >= hold {
				return start
			}
		} else {
			start = -1
		}
	}
	return -1
}

func TestStepDownAndRecovery(t *testing.T) {
	cases := []struct {
		name  string
		links []*simLink
	}{
		{"rtmp", []*simLink{{name: "rtmp", cap: stepCap(4000, 1000, 20, 50)}}},
		{"whip", []*simLink{{name: "whip", whip: true, cap: stepCap(4000, 1000, 20, 50)}}},
		{"both, rtmp tighter", []*simLink{
			{name: "whip", whip: true, cap: func(float64) float64 { return 6000 }},
			{name: "rtmp", cap: stepCap(4000, 1000, 20, 50)},
		}},
		{"both, whip tighter", []*simLink{
			{name: "whip", whip: true, cap: stepCap(4000, 1000, 20, 50)},
			{name: "rtmp", cap: func(float64) float64 { return 8000 }},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{MaxKbps: 4500})
			r := simulate(c, tc.links, 80, 1.0)
			// Reaches near capacity before the step.
			up := firstAfter(r, 0, 2, func(i int) bool { return r.sent[i] >= 0.8*r.cap[i] })
			if up < 0 || up > 15 {
				t.Errorf("initial ramp to 80%% of 4 Mbit/s: %v s", up)
			}
			adapt := firstAfter(r, 20, 5, func(i int) bool { return r.sent[i] <= 0.9*r.cap[i] })
			if adapt < 0 || adapt-20 > 4 {
				t.Errorf("after the step, sent ≤ 0.9 × capacity at %v s (want ≤ 24)", adapt)
			}
			rec := firstAfter(r, 50, 3, func(i int) bool { return r.sent[i] >= 0.8*r.cap[i] })
			if rec < 0 || rec-50 > 20 {
				t.Errorf("after capacity returned, ≥ 80%% used at %v s (want ≤ 70)", rec)
			}
			// Never above capacity for long: probing past a ceiling is
			// brief, and the total stays small.
			over, run, total := 0.0, 0.0, 0.0
			for i := range r.t {
				if r.sent[i] > r.cap[i] {
					run += 0.25
					total += 0.25
					over = math.Max(over, run)
				} else {
					run = 0
				}
			}
			if over > 3 || total > 0.2*80 {
				t.Errorf("above capacity for %v s in a row, %v s in all", over, total)
			}
			t.Logf("ramp %.2fs, adapt %.2fs after step, recover %.2fs after return, over capacity at most %.2fs in a row, %.2fs in all", up, adapt-20, rec-50, over, total)
		})
	}
}

// TestProperty checks random capacity traces: never above the tightest
// link for long, and back to ≥ 80 % of a steady capacity within 20 s.
func TestProperty(t *testing.T) {
	seed := uint64(1)
	rnd := func() float64 { // deterministic xorshift
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return float64(seed%10000) / 10000
	}
	for trial := range 40 {
		// Piecewise-constant capacity: a new level every 10–40 s, then
		// a final steady 30 s.
		var bounds, levels []float64
		for at := 0.0; at < 120; at += 10 + 30*rnd() {
			bounds = append(bounds, at)
			levels = append(levels, 400+5000*rnd())
		}
		final := 500 + 4000*rnd()
		capf := func(t float64) float64 {
			if t >= 120 {
				return final
			}
			v := levels[0]
			for i, b := range bounds {
				if t >= b {
					v = levels[i]
				}
			}
			return v
		}
		whip := trial%2 == 0
		name := fmt.Sprintf("trial %d whip=%v", trial, whip)
		c := New(Config{MaxKbps: 6000})
		r := simulate(c, []*simLink{{name: "x", whip: whip, cap: capf}}, 150, 1.0)
		over, run := 0.0, 0.0
		for i := range r.t {
			if r.sent[i] > r.cap[i] {
				run += 0.25
				over = math.Max(over, run)
			} else {
				run = 0
			}
		}
		if over > 6 {
			t.Errorf("%s: above capacity for %v s in a row", name, over)
		}
		want := math.Min(final, 6000+100) * 0.8
		rec := firstAfter(r, 120, 2, func(i int) bool { return r.sent[i] >= want })
		if rec < 0 || rec-120 > 20 {
			t.Errorf("%s: final capacity %.0f: ≥ 80%% reached at %v s (want ≤ 140)", name, final, rec)
		}
	}
}

// TestUndershootIsNotCongestion: an encoder producing less than asked
// (x264 after a restart) with a keyframe queued must not read as a slow link.
func TestUndershootIsNotCongestion(t *testing.T) {
	c := New(Config{StartKbps: 1500})
	now := time.Unix(0, 0)
	for i := range 20 {
		backlog := max(0, 28_000-(i%8)*5000) // a keyframe every GOP, drained within it
		d := c.Step(now.Add(time.Duration(i)*250*time.Millisecond), []Signal{{
			Name: "rtmp", Connected: true, SentBps: 300_000, ThroughputBps: 300_000, BacklogBytes: backlog,
		}})
		if d.Reason == "down" {
			t.Fatalf("step %d: cut to %d on an undershooting encoder", i, d.VideoKbps)
		}
	}
}

// TestWarmupIgnored: a fresh connection draining its backlog is not a
// congestion signal.
func TestWarmupIgnored(t *testing.T) {
	c := New(Config{StartKbps: 1500})
	t0 := time.Unix(0, 0)
	for i := range 6 {
		now := t0.Add(time.Duration(i) * 250 * time.Millisecond)
		d := c.Step(now, []Signal{{Name: "rtmp", Connected: true, Since: t0, SentBps: 4e6, ThroughputBps: 1e6, BacklogBytes: 500_000 + i*50_000}})
		if d.Changed {
			t.Fatalf("changed during warm-up: %+v", d)
		}
	}
}

func TestDisconnectedOutputsHold(t *testing.T) {
	c := New(Config{StartKbps: 2000})
	now := time.Unix(0, 0)
	for i := range 40 {
		d := c.Step(now.Add(time.Duration(i)*250*time.Millisecond), []Signal{{Name: "rtmp"}, {Name: "whip"}})
		if d.VideoKbps != 2000 || d.Changed {
			t.Fatalf("step %d: %+v, want a steady 2000", i, d)
		}
	}
}

func TestLadder(t *testing.T) {
	ladder := DefaultLadder(1280, 720, 30)
	cases := []struct {
		kbps float64
		want Rung
	}{
		{3000, ladder[0]},
		{800, ladder[1]},
		{400, ladder[2]},
		{150, ladder[3]},
	}
	for _, tc := range cases {
		c := New(Config{Ladder: ladder, MinKbps: 100})
		c.cur = tc.kbps
		c.rung = c.pickRung(0)
		if got := c.rungAt(c.rung); got != tc.want {
			t.Errorf("%v kbit/s: rung %+v, want %+v", tc.kbps, got, tc.want)
		}
	}
	if got := DefaultLadder(720, 1280, 30)[3]; got.Width != 240 || got.Height != 426 || got.FPS != 15 {
		t.Errorf("portrait bottom rung %+v", got)
	}
	// Hysteresis: at 1300 coming from rung 1, stay (needs 1440).
	c := New(Config{Ladder: ladder})
	c.cur, c.rung = 1300, 1
	if c.pickRung(1) != 1 {
		t.Error("moved up a rung without 20 % margin")
	}
}

// TestExtremeLossDegradesVideo: a link that carries 250 kbit/s ends at the
// bottom rung and the minimum rate rather than disconnecting.
func TestExtremeLossDegradesVideo(t *testing.T) {
	c := New(Config{Ladder: DefaultLadder(1280, 720, 30)})
	r := simulate(c, []*simLink{{name: "rtmp", cap: func(float64) float64 { return 250 }}}, 30, 1)
	last := r.decisions[len(r.decisions)-1]
	if last.VideoKbps > 160 || last.Rung.FPS != 15 {
		t.Errorf("end state %+v", c.Current())
	}
}

// TestRampingEstimateIsNotCongestion: GCC starts from a guess below what
// the encoder sends and climbs; that is no reason to cut. The same low
// estimate after a fall is.
func TestRampingEstimateIsNotCongestion(t *testing.T) {
	cases := []struct {
		name     string
		estimate func(i int) int // bit/s at step i (250 ms apart)
		wantCut  bool
	}{
		{"climbing from a low guess", func(i int) int { return 500_000 + i*20_000 }, false},
		{"fell from a peak", func(i int) int {
			if i < 8 {
				return 3_000_000
			}
			return 600_000
		}, true},
		{"settled low", func(int) int { return 600_000 }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{StartKbps: 1500})
			now := time.Unix(0, 0)
			cut := false
			for i := range 24 {
				d := c.Step(now.Add(time.Duration(i)*250*time.Millisecond), []Signal{{
					Name: "whip", Connected: true, EstimateBps: tc.estimate(i), SentBps: 1_600_000,
				}})
				cut = cut || d.Reason == "down"
			}
			if cut != tc.wantCut {
				t.Errorf("cut = %v, want %v", cut, tc.wantCut)
			}
		})
	}
}

// TestOutageIsNotCongestion: while a link carries nothing (2 s without
// coverage) and while it catches up afterwards, the rate holds; the
// flapping profile once kept the box at its floor this way.
func TestOutageIsNotCongestion(t *testing.T) {
	c := New(Config{StartKbps: 1000})
	t0 := time.Unix(0, 0)
	sig := func(acked, backlog int) []Signal {
		return []Signal{{Name: "rtmp", Connected: true, SentBps: 1_100_000, ThroughputBps: acked,
			BacklogBytes: backlog, RTT: 50 * time.Millisecond}}
	}
	step := 0
	run := func(n int, acked, backlog func(i int) int) {
		for i := range n {
			d := c.Step(t0.Add(time.Duration(step)*250*time.Millisecond), sig(acked(i), backlog(i)))
			step++
			if d.Reason == "down" {
				t.Fatalf("step %d: cut to %d (%s)", step, d.VideoKbps, d.Why)
			}
		}
	}
	fixed := func(v int) func(int) int { return func(int) int { return v } }
	run(20, fixed(1_100_000), fixed(4_000))                                            // healthy
	run(8, fixed(0), func(i int) int { return 10_000 + i*35_000 })                     // 2 s outage
	run(12, fixed(3_000_000), func(i int) int { return max(4_000, 290_000-i*30_000) }) // catching up
	run(20, fixed(1_100_000), fixed(4_000))
}

// TestStandingQueueIsCut: a queue of a second that neither grows nor
// drains (the link carries exactly what is sent) keeps viewers a second
// behind live, so the rate goes below what the link carries.
func TestStandingQueueIsCut(t *testing.T) {
	c := New(Config{StartKbps: 1000})
	t0 := time.Unix(0, 0)
	var d Decision
	for i := range 40 {
		d = c.Step(t0.Add(time.Duration(i)*250*time.Millisecond), []Signal{{
			Name: "rtmp", Connected: true, SentBps: 1_100_000, ThroughputBps: 1_100_000,
			BacklogBytes: 140_000, RTT: 40 * time.Millisecond,
		}})
		if d.Reason == "down" {
			break
		}
	}
	if d.Reason != "down" || d.VideoKbps > 1100*85/100-110+1 {
		t.Fatalf("decision %+v: want a cut below the carried rate", d)
	}
}

// TestClearTCPPathOverrulesAShallowEstimateDrop: both outputs share the
// box's uplink; when the RTMP connection sees no queue at all, a shallow
// GCC drop lasting a second (its delay detector reacting to bursts) does not cut, a
// deep one does, and the same shallow drop with a queue on the TCP path
// does too.
func TestClearTCPPathOverrulesAShallowEstimateDrop(t *testing.T) {
	cases := []struct {
		name      string
		estimate  int // after the drop, bit/s
		rtmpQueue int // bytes waiting at the RTMP output
		rtt       time.Duration
		wantCut   bool
	}{
		{"shallow drop, clear TCP", 1_150_000, 1_000, 40 * time.Millisecond, false},
		{"deep drop, clear TCP", 600_000, 1_000, 40 * time.Millisecond, true},
		{"shallow drop, TCP queue", 1_150_000, 120_000, 160 * time.Millisecond, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{StartKbps: 1200})
			t0 := time.Unix(0, 0)
			cut := false
			for i := range 12 {
				est, queue, rtt := 3_000_000, 1_000, 40*time.Millisecond
				if i >= 4 && i < 8 { // one second
					est, queue, rtt = tc.estimate, tc.rtmpQueue, tc.rtt
				}
				d := c.Step(t0.Add(time.Duration(i)*250*time.Millisecond), []Signal{
					{Name: "whip", Connected: true, EstimateBps: est, SentBps: 1_310_000},
					{Name: "rtmp", Connected: true, SentBps: 1_310_000, ThroughputBps: 1_310_000, BacklogBytes: queue, RTT: rtt},
				})
				cut = cut || d.Reason == "down"
			}
			if cut != tc.wantCut {
				t.Errorf("cut = %v, want %v", cut, tc.wantCut)
			}
		})
	}
}

// TestSlowStartKeepsTheTopRung: a slow start with StartAtTopRung changes
// only the bitrate on a link that carries the full rate (the recording's
// codec parameters stay), and gives the size up at the first cut.
func TestSlowStartKeepsTheTopRung(t *testing.T) {
	ladder := DefaultLadder(1280, 720, 30)
	cases := []struct {
		name     string
		capKbps  float64
		wantTop  bool // every decision at the top rung
		minFinal int  // the rate reached by the end
	}{
		{"good link", 8000, true, 1400},
		{"weak link", 700, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{StartKbps: 750, MaxKbps: 1500, Ladder: ladder, StartAtTopRung: true})
			if got := c.Current().Rung; got != ladder[0] {
				t.Fatalf("starts at rung %+v, want the top", got)
			}
			link := &simLink{name: "rtmp", cap: stepCap(tc.capKbps, tc.capKbps, 0, 0)}
			r := simulate(c, []*simLink{link}, 30, 0.5)
			allTop := true
			for _, d := range r.decisions {
				allTop = allTop && d.Rung == ladder[0]
			}
			if allTop != tc.wantTop {
				t.Errorf("every decision at the top rung: %v, want %v", allTop, tc.wantTop)
			}
			if last := r.decisions[len(r.decisions)-1].VideoKbps; last < tc.minFinal {
				t.Errorf("ended at %d kbit/s, want ≥ %d", last, tc.minFinal)
			}
		})
	}
	// Without the option the same start picks the rung its rate allows.
	if got := New(Config{StartKbps: 750, Ladder: ladder}).Current().Rung; got != ladder[1] {
		t.Errorf("plain slow start at rung %+v, want %+v", got, ladder[1])
	}
}

func TestSlowStartKbps(t *testing.T) {
	for _, tc := range []struct{ configured, want int }{
		{1500, 750}, {2000, 750}, {1000, 500}, {4000, 750}, {1, 1},
	} {
		if got := SlowStartKbps(tc.configured); got != tc.want {
			t.Errorf("SlowStartKbps(%d) = %d, want %d", tc.configured, got, tc.want)
		}
	}
}
