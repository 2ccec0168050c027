// Package adapt decides the encoder's bitrate, and below thresholds its
// picture size and frame rate, from what every live output says about its
// link.
//
// Each output reports a Signal: WHIP gives Google Congestion Control's
// estimate; RTMP gives what TCP tells us (bytes acknowledged per second,
// bytes still unsent or unacknowledged, round-trip time) plus the
// publisher's own queue. The controller takes the tightest output.
//
// Compared with belacoder's stepwise controller (fixed small decrements
// every 200 ms while RTT or the send buffer is high, +30 kbit/s every
// 500 ms otherwise), this one:
//   - goes down in one step to what the link is measured to carry
//     (acknowledged throughput or the estimate, less headroom) instead of
//     walking down, because a step from 4 to 1 Mbit/s walked at 100 kbit/s
//     per 200 ms takes six seconds of stalls;
//   - goes up multiplicatively once every output has been calm for a
//     hold-off, quickly while far below the rate that last congested and
//     cautiously near it, and never above a WHIP estimate, so recovery
//     after capacity returns takes seconds, not minutes;
//   - treats a queue that is draining as calm and a queue that is growing
//     as congestion, so one keyframe burst does not cause a cut;
//   - switches to a smaller picture and frame rate below set bitrates,
//     because 150 kbit/s of 720p is mush while 240p at 15 fps is watchable,
//     and audio keeps its own fixed budget throughout.
package adapt

import (
	"fmt"
	"math"
	"time"
)

// Signal is one output's view of its link at one moment.
type Signal struct {
	Name      string
	Connected bool
	// EstimateBps is a direct capacity estimate (GCC for WHIP); 0 if the
	// output has none.
	EstimateBps int
	// ThroughputBps is what the peer has recently received or
	// acknowledged, in bits per second; 0 if unknown.
	ThroughputBps int
	// SentBps is what the output actually handed to the transport
	// recently (bits per second); 0 if unknown. Comparing it with
	// ThroughputBps tells a full link from an encoder that undershoots.
	SentBps int
	// BacklogBytes waits to reach the peer: the output's queue plus bytes
	// in the socket not yet acknowledged.
	BacklogBytes int
	// RTT is the transport's smoothed round-trip time; 0 if unknown.
	RTT time.Duration
	// Since is when the output's current connection started; its first
	// Warmup is ignored (a fresh connection drains what queued while it
	// was being made, and estimators start from a guess).
	Since time.Time
}

// Rung is one step of the picture ladder: used while the video bitrate is
// at least MinKbps.
type Rung struct {
	MinKbps       int
	Width, Height int
	FPS           int
}

// DefaultLadder derives a ladder from the full-quality output: full size
// from 1200 kbit/s, two thirds from 600, half at 25 fps from 300, a third
// at 15 fps below. Sizes stay even, as I420 needs.
func DefaultLadder(width, height, fps int) []Rung {
	scale := func(n, num, den int) int { return max(2, n*num/den/2*2) }
	return []Rung{
		{MinKbps: 1200, Width: width, Height: height, FPS: fps},
		{MinKbps: 600, Width: scale(width, 2, 3), Height: scale(height, 2, 3), FPS: fps},
		{MinKbps: 300, Width: scale(width, 1, 2), Height: scale(height, 1, 2), FPS: min(fps, 25)},
		{MinKbps: 0, Width: scale(width, 1, 3), Height: scale(height, 1, 3), FPS: min(fps, 15)},
	}
}

// Config tunes a Controller. Zero values pick the defaults noted.
type Config struct {
	// MinKbps and MaxKbps bound the video bitrate: defaults 150 and 4000.
	MinKbps, MaxKbps int
	// StartKbps is the initial video bitrate, default 1500.
	StartKbps int
	// AudioKbps is subtracted from every link budget (audio is never
	// degraded), default 110 (96 kbit/s AAC plus framing).
	AudioKbps int
	// Headroom is the share of a link budget left unused, default 0.15.
	Headroom float64
	// Ladder of picture sizes, highest first; nil keeps the size fixed.
	Ladder []Rung
	// UpHoldoff is how long every output must be calm after a decrease
	// before increasing, default 2 s; UpInterval spaces increases,
	// default 2 s (a change takes about 1.2 s to reach the outputs).
	UpHoldoff, UpInterval time.Duration
	// DownHoldoff spaces decreases so one that has not reached the
	// encoder yet is not repeated, default 1.5 s; a much deeper cut
	// (below 70 %) is taken at once anyway.
	DownHoldoff time.Duration
	// CeilingHold is how long the rate measured at the last congestion
	// is treated as the link's capacity before probing past it, default 6 s.
	CeilingHold time.Duration
	// Warmup after an output (re)connects during which it is ignored,
	// default 1 s (the queue it starts with is ignored until it drains,
	// unless it grows).
	Warmup time.Duration
	// QueueDelay above which a growing backlog counts as congestion,
	// default 400 ms of media at the current rate.
	QueueDelay time.Duration
	// StartAtTopRung keeps the ladder's top picture while a slow start
	// (StartKbps below the top rung's threshold) climbs, until the first
	// cut: the start then changes only the bitrate, which leaves the
	// encoder's codec parameters, and so the box's recording, unchanged
	// on a link that carries the full rate.
	StartAtTopRung bool
}

func (c *Config) defaults() {
	defi := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defd := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	defi(&c.MinKbps, 150)
	defi(&c.MaxKbps, 4000)
	defi(&c.StartKbps, 1500)
	defi(&c.AudioKbps, 110)
	if c.MaxKbps < c.MinKbps {
		c.MaxKbps = c.MinKbps
	}
	c.StartKbps = min(max(c.StartKbps, c.MinKbps), c.MaxKbps)
	if c.Headroom <= 0 || c.Headroom >= 0.9 {
		c.Headroom = 0.15
	}
	defd(&c.UpHoldoff, 2*time.Second)
	defd(&c.UpInterval, 2*time.Second)
	defd(&c.DownHoldoff, 1500*time.Millisecond)
	defd(&c.QueueDelay, 400*time.Millisecond)
	defd(&c.Warmup, time.Second)
	defd(&c.CeilingHold, 6*time.Second)
}

// SlowStartKbps is where a session configured for kbps starts when it
// starts slowly: half of it, at most 750 kbit/s (two publishers at that
// plus audio fit a 2 Mbit/s rural 4G uplink).
func SlowStartKbps(kbps int) int {
	return max(1, min(kbps/2, 750))
}

// Decision is the controller's output after a Step.
type Decision struct {
	VideoKbps int
	// Rung is the picture to use; zero if the Config has no ladder.
	Rung Rung
	// Changed is true when VideoKbps or Rung differ from the last Step.
	Changed bool
	// Reason says why, for logs: "start", "down", "up", "hold".
	Reason string
	// Limiter names the output that bounded the decision, if any, and
	// Why says what it showed.
	Limiter string
	Why     string
}

// Controller is the decision logic; it is not safe for concurrent use.
// Step is pure apart from the controller's own state, so tests drive it
// with synthetic traces and explicit times.
type Controller struct {
	cfg  Config
	cur  float64 // video kbit/s
	rung int
	// topHeld pins the top rung until the first cut (StartAtTopRung).
	topHeld bool

	started  bool
	lastDown time.Time
	lastUp   time.Time
	calmFrom time.Time // when every output last became calm
	ceiling  float64   // video rate the link took at the last congestion
	ceilAt   time.Time // when; zero once probing has shown more room
	outputs  map[string]*outputTrack
}

// outputTrack is what the controller remembers of one output between
// steps; it is forgotten while the output is disconnected or warming up.
type outputTrack struct {
	minRTT    time.Duration
	acked     float64       // acknowledged rate, bit/s, robust to one bad sample
	lastAcked float64       // the previous raw sample
	delay     time.Duration // queue delay at the last step
	rise      int           // consecutive steps the queue grew
	over      int           // consecutive steps that looked congested
	standing  int           // consecutive steps with a queue at all
	// settled is set once the queue a fresh connection starts with (the
	// fan-out's catch-up from the last keyframe) has drained.
	settled   bool
	stalledAt time.Time // when the link last carried nothing
	seen      time.Time // when the controller first heard of it
	estOver   int       // consecutive steps the estimate said cut
	est       estimateTrend
}

// estimateTrend follows one output's congestion-control estimate. GCC
// starts from a guess and climbs about 8 % a second while it sees no
// overuse, so an estimate below what is sent but still rising says "not
// measured yet", not "congested"; a falling or settled one is a verdict.
type estimateTrend struct {
	last   int
	roseAt time.Time
	peak   int
	peakAt time.Time
}

func (e *estimateTrend) update(now time.Time, est int) (ramping bool) {
	if e.roseAt.IsZero() || est > e.last {
		e.roseAt = now
	}
	if est >= e.peak || now.Sub(e.peakAt) > 3*time.Second {
		e.peak, e.peakAt = est, now
	}
	e.last = est
	falling := float64(est) < 0.85*float64(e.peak)
	return now.Sub(e.roseAt) < 1500*time.Millisecond && !falling
}

// New returns a controller at cfg.StartKbps.
func New(cfg Config) *Controller {
	cfg.defaults()
	c := &Controller{cfg: cfg, cur: float64(cfg.StartKbps), outputs: map[string]*outputTrack{},
		topHeld: cfg.StartAtTopRung}
	c.rung = c.pickRung(0)
	return c
}

// Current is the latest decision without stepping.
func (c *Controller) Current() Decision {
	return Decision{VideoKbps: int(c.cur), Rung: c.rungAt(c.rung), Reason: "hold"}
}

func (c *Controller) rungAt(i int) Rung {
	if len(c.cfg.Ladder) == 0 {
		return Rung{}
	}
	return c.cfg.Ladder[i]
}

// pickRung is the highest rung the current rate allows; moving up needs
// 20 % more than the rung's threshold so a rate hovering at a threshold
// does not flip the picture size back and forth.
func (c *Controller) pickRung(from int) int {
	l := c.cfg.Ladder
	if len(l) == 0 || c.topHeld {
		return 0
	}
	for i, r := range l {
		need := float64(r.MinKbps)
		if i < from {
			need *= 1.2
		}
		if c.cur >= need {
			return i
		}
	}
	return len(l) - 1
}

// rungFor is the highest rung whose threshold kbps reaches (no hysteresis).
func (c *Controller) rungFor(kbps float64) Rung {
	for _, r := range c.cfg.Ladder {
		if kbps >= float64(r.MinKbps) {
			return r
		}
	}
	return c.cfg.Ladder[len(c.cfg.Ladder)-1]
}

// verdict is one output's judgement for this step.
type verdict struct {
	limitKbps float64 // video rate this link can take; +Inf if no limit
	// roomKbps is as far as increases may go: the rate an estimator has
	// seen the link carry, even while it is not a reason to cut.
	roomKbps  float64
	congested bool
	severe    bool
	busy      bool // a queue stands: not the time to probe upwards
	why       string
	// fromEstimate marks a verdict that rests on a congestion
	// controller's estimate alone; clear marks a transport that sees no
	// queue at all (round trip at its floor, nothing waiting).
	fromEstimate bool
	firm         bool
	clear        bool
	// undershoot: the limit is an acknowledged rate measured while a
	// queue stood, which lags a falling link.
	undershoot bool
}

// trackEstimate updates an output's estimate trend and says whether the
// estimator is still climbing without having fallen from a recent peak.
func (c *Controller) judge(now time.Time, s Signal, o *outputTrack, fresh bool) verdict {
	v := verdict{limitKbps: math.Inf(1), roomKbps: math.Inf(1)}
	budget := func(bps int) float64 {
		return float64(bps)/1000*(1-c.cfg.Headroom) - float64(c.cfg.AudioKbps)
	}
	if s.EstimateBps > 0 {
		v.roomKbps = budget(s.EstimateBps)
		ramping := o.est.update(now, s.EstimateBps)
		switch {
		case s.SentBps > 0 && s.EstimateBps >= s.SentBps:
			// The estimator is not holding us back. GCC only grows
			// its estimate slowly (about 8 % a second) and, sharing a
			// link with TCP, rarely far above what is sent, so it is
			// used as a brake, never as a ceiling for probing.
		case ramping:
			// Climbing (from its first guess, or back after a fall):
			// the link has not said no. A falling estimate, or the
			// other signals, stop a rate that is too high.
			v.busy = float64(s.EstimateBps) < float64(s.SentBps)*0.7
		default:
			v.limitKbps = budget(s.EstimateBps)
			if v.limitKbps < c.cur*0.95 {
				v.congested = true
				v.why = fmt.Sprintf("estimate %d kbit/s (peak %d), sending %d", s.EstimateBps/1000, o.est.peak/1000, s.SentBps/1000)
			}
		}
		o.estOver = countIf(v.congested, o.estOver)
		// Deep or lasting: believed even against a clear TCP path (the
		// estimator's path may have its own bottleneck).
		v.firm = v.congested && (float64(s.EstimateBps) < 0.6*float64(s.SentBps) || o.estOver >= 8)
		v.fromEstimate = true
		return v
	}
	// Queue delay: what waits on our side of the bottleneck, in time. A
	// transport's backlog includes the bytes legitimately in flight (one
	// round trip's worth at the rate the peer takes them), which are not a
	// queue; at low rates they alone would look like hundreds of
	// milliseconds. What is beyond them drains at the acknowledged rate;
	// the bottleneck's own queue shows as round-trip time above the
	// smallest seen.
	// The acknowledged rate of one 250 ms sample swings with every
	// retransmission and delayed ACK; an 11 s "queue" from one stalled
	// sample once cut a 4 Mbit/s link to the floor. The better of the
	// last two samples ignores one such stall, while a real drop shows
	// in both.
	o.acked = math.Max(float64(s.ThroughputBps), o.lastAcked)
	o.lastAcked = float64(s.ThroughputBps)
	drain := o.acked
	if drain <= 0 {
		drain = (c.cur + float64(c.cfg.AudioKbps)) * 1000
	}
	if s.RTT > 0 && (o.minRTT == 0 || s.RTT < o.minRTT) {
		o.minRTT = s.RTT
	}
	local := float64(s.BacklogBytes)
	var netQueue time.Duration
	if s.RTT > 0 {
		local = math.Max(0, local-drain/8*s.RTT.Seconds())
		netQueue = s.RTT - o.minRTT
	}
	delay := time.Duration(local*8/drain*float64(time.Second)) + netQueue
	growing := !fresh && delay > o.delay
	o.delay = delay
	o.rise = countIf(growing, o.rise)
	o.standing = countIf(delay > c.cfg.QueueDelay/4, o.standing)
	// A link that acknowledges next to nothing of a standing queue is not
	// slow but gone for the moment (coverage lost, a retransmission
	// timeout): cutting cannot help it, and when it returns the queue it
	// catches up on is no verdict on its capacity either.
	expected := math.Max(float64(s.SentBps), (c.cur+float64(c.cfg.AudioKbps))*1000)
	if s.EstimateBps == 0 && s.RTT > 0 && o.acked < 0.1*expected && delay > c.cfg.QueueDelay/4 {
		o.settled, o.stalledAt = false, now
		o.over, o.rise, o.standing = 0, 0, 0
		v.busy = true
		v.why = "link carries nothing"
		return v
	}
	if !o.settled {
		// A new connection first drains what queued while it was made,
		// and a link back from a stall what queued meanwhile; until it
		// has (or for long, if it never does) its queue says nothing
		// about the link.
		since := s.Since
		if since.IsZero() {
			since = o.seen
		}
		if o.stalledAt.After(since) {
			since = o.stalledAt
		}
		// A queue that grows instead of draining is the link, not the
		// catch-up.
		o.settled = delay <= c.cfg.QueueDelay/4 || o.rise >= 2 || now.Sub(since) > 2*c.cfg.Warmup
		if !o.settled {
			v.busy = true
			return v
		}
	}
	// A link that acknowledges as fast as we send is keeping up, however
	// long the queue looks at our (low) rate.
	keepingUp := func(share float64) bool {
		return s.SentBps > 0 && o.acked > 0 && o.acked >= float64(s.SentBps)*share
	}
	v.clear = s.RTT > 0 && s.RTT <= o.minRTT+25*time.Millisecond && delay <= c.cfg.QueueDelay/4 && keepingUp(0.9)
	if delay > c.cfg.QueueDelay/4 {
		v.busy = true
	}
	// Congestion is a queue that lasts. A keyframe sent at line rate
	// makes a queue that grows for a step or two and drains within a
	// second; the same queue still standing after a second and a half,
	// growing at every step for a second, or long while the peer takes
	// less than we send, is a link that cannot carry the rate.
	// A queue that has grown at every step for two seconds is congestion
	// even when the acknowledged rate looks level with the sent one: the
	// link is a few per cent short, below what the rates can resolve.
	lagging := !keepingUp(0.97) || o.rise >= 8
	long := delay > c.cfg.QueueDelay && lagging
	creeping := delay > c.cfg.QueueDelay/4 && growing && o.rise >= 4 && lagging
	// A long queue that merely holds its length is latency for good:
	// viewers stay that far behind live until the rate goes below what
	// the link carries.
	standing := o.standing >= 6 && (!keepingUp(0.97) || delay > c.cfg.QueueDelay)
	o.over = countIf(long || creeping || standing, o.over)
	if o.over >= 2 || delay > 4*c.cfg.QueueDelay {
		v.congested = true
		lim := c.cur * 0.7
		if o.acked > 0 {
			// The link carried this rate while a queue stood: that is
			// its capacity. Take less so the queue drains.
			share := 1 - c.cfg.Headroom
			if delay > 4*c.cfg.QueueDelay {
				share -= 0.15
				v.severe = true
			}
			lim = o.acked/1000*share - float64(c.cfg.AudioKbps)
		}
		v.undershoot = true
		if lim < v.limitKbps {
			v.why = fmt.Sprintf("queue %v (long %v creeping %v standing %v), acked %d of sent %d kbit/s",
				delay.Round(time.Millisecond), long, creeping, standing, s.ThroughputBps/1000, s.SentBps/1000)
		}
		v.limitKbps = math.Min(v.limitKbps, lim)
	}
	return v
}

// countIf extends a run of consecutive steps while cond holds.
func countIf(cond bool, run int) int {
	if cond {
		return run + 1
	}
	return 0
}

// Step takes one set of signals and decides. Call it periodically (every
// 250–500 ms). Disconnected outputs are ignored; with none connected the
// rate holds, since the recorder keeps using it.
func (c *Controller) Step(now time.Time, sigs []Signal) Decision {
	if !c.started {
		c.started = true
		c.calmFrom = now
		c.lastUp = now
	}
	limit := math.Inf(1)
	limiter, why := "", ""
	room := math.Inf(1)
	undershoot := false
	congested, severe, busy, any := false, false, false, false
	verdicts := make([]verdict, 0, len(sigs))
	names := make([]string, 0, len(sigs))
	clear := false
	for _, s := range sigs {
		if !s.Connected || !s.Since.IsZero() && now.Sub(s.Since) < c.cfg.Warmup {
			delete(c.outputs, s.Name)
			continue
		}
		any = true
		o, known := c.outputs[s.Name]
		if !known {
			o = &outputTrack{seen: now}
			c.outputs[s.Name] = o
		}
		v := c.judge(now, s, o, !known)
		clear = clear || v.clear
		verdicts, names = append(verdicts, v), append(names, s.Name)
	}
	for i, v := range verdicts {
		if v.fromEstimate && clear && !v.firm {
			// All outputs leave through the box's one uplink. A TCP
			// connection on it that sees no queue at all says the
			// estimator reacted to something else: GCC's delay
			// detector takes encoder bursts and scheduling jitter for
			// overuse, and would hold every output down with it. A deep
			// or lasting fall is believed all the same.
			continue
		}
		if v.limitKbps < limit {
			limit, limiter, why = v.limitKbps, names[i], v.why
			undershoot = v.undershoot
		}
		congested = congested || v.congested
		severe = severe || v.severe
		busy = busy || v.busy
		room = math.Min(room, v.roomKbps)
	}
	oldKbps, oldRung := int(c.cur), c.rung
	reason := "hold"
	switch {
	case !any:
	case congested || limit < c.cur*0.95:
		c.calmFrom = time.Time{}
		deep := limit < c.cur*0.7 || severe
		if limit < c.cur && (now.Sub(c.lastDown) >= c.cfg.DownHoldoff || deep && now.Sub(c.lastDown) >= c.cfg.DownHoldoff/3) {
			target := limit
			if deep && undershoot {
				// A big drop measured by acknowledgements lags the link,
				// and what queued until the encoder switches must drain:
				// undershoot.
				target *= 0.85
			}
			c.cur = math.Max(target, float64(c.cfg.MinKbps))
			c.ceiling, c.ceilAt = math.Max(limit, float64(c.cfg.MinKbps)), now
			c.lastDown = now
			c.topHeld = false
			reason = "down"
		}
	default:
		if c.calmFrom.IsZero() {
			c.calmFrom = now
		}
		// Each increase must have reached the encoder and been carried
		// calmly for a while before the next: the controller steps every
		// 250 ms, a change takes a second or two to go out, and climbing
		// on without seeing its effect is how links get flooded.
		settled := now.Sub(c.calmFrom) >= c.cfg.UpHoldoff && now.Sub(c.lastDown) >= c.cfg.UpHoldoff &&
			now.Sub(c.lastUp) >= c.cfg.UpInterval
		if !busy && settled && c.cur < float64(c.cfg.MaxKbps) && limit > c.cur {
			next := c.cur*1.5 + 20 // far from anything known to congest
			if !c.ceilAt.IsZero() {
				switch {
				case now.Sub(c.ceilAt) < c.cfg.CeilingHold:
					// Just measured: climb straight back to it, no further.
					next = math.Min(next, c.ceiling)
				case c.cur >= c.ceiling*1.15 || now.Sub(c.ceilAt) > 5*c.cfg.CeilingHold:
					// Probes past it went fine, or it is old news: the
					// link has more room now; forget it.
					c.ceilAt = time.Time{}
				case c.cur < c.ceiling*0.8:
					next = math.Min(next, c.ceiling)
				default:
					// Near the rate that last congested: small probes.
					next = math.Max(math.Min(next, c.ceiling), c.cur*1.07+20)
				}
			}
			next = math.Min(next, math.Min(limit, room))
			next = math.Min(next, float64(c.cfg.MaxKbps))
			if next > c.cur {
				c.cur = next
				c.lastUp = now
				c.calmFrom = now // the new rate has to prove itself
				reason = "up"
			}
		}
	}
	c.cur = math.Min(math.Max(c.cur, float64(c.cfg.MinKbps)), float64(c.cfg.MaxKbps))
	c.rung = c.pickRung(c.rung)
	d := Decision{VideoKbps: int(c.cur), Rung: c.rungAt(c.rung), Reason: reason}
	if reason != "hold" {
		d.Limiter, d.Why = limiter, why
	}
	d.Changed = d.VideoKbps != oldKbps || c.rung != oldRung
	if !d.Changed {
		d.Reason = "hold"
	}
	return d
}
