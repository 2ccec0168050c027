package weaklink

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/cunbo/cunbo/stream/whip/whiptest"
)

// Result is one system's measurements on one profile. Pointers are nil
// where a measurement does not apply (the baseline has no adaptation and
// no local recording).
type Result struct {
	StallS     float64  `json:"stall_s"`
	StallPct   float64  `json:"stall_pct"`
	StepStallS *float64 `json:"step_stall_s,omitempty"`
	AdaptS     *float64 `json:"adapt_s"`
	// AdaptEncoderS is the same for what the encoder offers (its output
	// once per publisher), without the backlog draining after the cut.
	AdaptEncoderS  *float64 `json:"adapt_encoder_s,omitempty"`
	RecoverS       *float64 `json:"recover_s,omitempty"`
	ResumeS        *float64 `json:"resume_s"`
	ResumeMaxS     *float64 `json:"resume_max_s,omitempty"`
	DeliveredRatio float64  `json:"delivered_ratio"`
	RecordingGaps  *int     `json:"recording_gaps"`
	// How far behind live viewers fell (see Lag), at the worse receiver:
	// RTMP message timestamps at the nginx player, RTP timestamps at the
	// WHIP receiver.
	LagP95S *float64 `json:"lag_p95_s"`
	LagMaxS *float64 `json:"lag_max_s"`
	// Per receiver: "rtmp" (nginx) and, for cunbo, "whip".
	Receivers map[string]ReceiverResult `json:"receivers"`
	// GaveUp is true if the publisher stopped for good (the baseline's
	// ffmpeg exits on a broken connection).
	GaveUp bool `json:"gave_up"`
	// Emulator is what applied the profile's delay, jitter and loss:
	// EmulatorNetem or EmulatorLinkemu (capacity is tc tbf either way).
	Emulator string `json:"emulator"`
	// NoNetem: netem passed the start-up probe but the kernel then refused
	// the qdisc, so only capacity and outages were emulated (no delay,
	// jitter or random loss). Never set with linkemu, which is chosen
	// whenever the probe fails.
	NoNetem bool `json:"no_netem,omitempty"`

	// Upload: what the queued upload sent ("cunbo+upload" only).
	Upload *UploadResult `json:"upload,omitempty"`

	// Runs is how many runs the figures are the median of.
	Runs int `json:"runs"`
	// Growth of the bench process (box plus WHIP receiver) from a quarter
	// of the run to its end; nil for the baseline.
	Growth *ResourceGrowth `json:"resource_growth,omitempty"`

	// Plot data, not in the JSON.
	Capacity, Sent, Delivered []Point `json:"-"`
}

// ReceiverResult is measured at one receiver.
type ReceiverResult struct {
	StallS         float64  `json:"stall_s"`
	Frames         int      `json:"frames"`
	DeliveredRatio float64  `json:"delivered_ratio"`
	ResumeS        *float64 `json:"resume_s,omitempty"`
	// Lag figures (see Lag); absent where the receiver sees no media
	// timestamps (WHIP).
	LagP95S *float64 `json:"lag_p95_s,omitempty"`
	LagMaxS *float64 `json:"lag_max_s,omitempty"`
}

// Point is one value at a time offset (seconds) from the run's start.
type Point struct{ T, V float64 }

// Options for Run.
type Options struct {
	Dir    string // work directory
	Clip   string // camera clip from MakeClip
	NetID  int
	Logger *slog.Logger
}

// Run plays profile p against system ("cunbo" or "baseline") on a fresh
// pair of namespaces.
func Run(ctx context.Context, p Profile, system string, o Options) (*Result, error) {
	n, err := SetupNet(o.NetID)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	dir := filepath.Join(o.Dir, p.Name+"-"+system)
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := n.Shape(p.Initial); err != nil {
		return nil, err
	}
	rx, err := StartReceivers(n, dir)
	if err != nil {
		return nil, err
	}
	defer rx.Close()
	rx.Log = o.Logger
	name := system
	rtmpRx := rx.Play(name)

	var box *Box
	var base *Baseline
	var queued *QueuedUpload
	if system == SystemCunboUpload {
		// Idle with a queue: an upload is in flight when she goes live.
		if queued, err = StartQueuedUpload(n, dir, QueuedMB, o.Logger); err != nil {
			return nil, err
		}
		defer queued.Stop()
	}
	t0 := time.Now()
	switch system {
	case "cunbo", SystemCunboUpload:
		if queued != nil {
			queued.GoLive()
		}
		box, err = StartBox(n, rx, o.Clip, dir, name, o.Logger)
	case "baseline":
		base, err = StartBaseline(n, rx, o.Clip, name)
	default:
		err = fmt.Errorf("weaklink: unknown system %q", system)
	}
	if err != nil {
		return nil, err
	}
	// A quarter of the way in, the box has settled (and, flapping, been
	// through its first returns): what it holds then is the reference for
	// growth by the end.
	early := make(chan Resources, 1)
	if box != nil {
		go func() {
			if sleepUntil(ctx, t0.Add(p.Duration/4)) {
				early <- sampleResources()
			}
			close(early)
		}()
	}
	// Play the schedule.
	for _, e := range p.Events {
		if !sleepUntil(ctx, t0.Add(e.At)) {
			break
		}
		switch {
		case e.Shape != nil:
			err = n.Shape(*e.Shape)
		case e.Down:
			err = n.SetLink(false)
		case e.Up:
			err = n.SetLink(true)
		}
		if err != nil {
			return nil, err
		}
	}
	sleepUntil(ctx, t0.Add(p.Duration))
	end := time.Now()

	r := &Result{Receivers: map[string]ReceiverResult{}}
	if queued != nil {
		r.Upload = queued.Result()
	}
	if box != nil {
		if from, ok := <-early; ok {
			r.Growth = &ResourceGrowth{From: from, To: sampleResources()}
		}
	}
	var samples []Sample
	if box != nil {
		samples = box.Samples()
		if o.Logger != nil {
			for _, s := range samples {
				o.Logger.Debug("weaklink: sample", "t", s.At.Sub(t0).Round(10*time.Millisecond), "decided", s.DecidedKbps,
					"encoded", int(s.EncodedKbps), "rtmp", s.RTMPSent/1000, "whip", s.WHIPSent/1000, "gcc", s.WHIPTarget/1000, "w", s.Width, "sigs", fmt.Sprintf("%+v", s.Signals))
			}
		}
		box.Stop()
		gaps, where, err := RecordingGaps(ctx, box.RecDir)
		if err != nil {
			return nil, err
		}
		if o.Logger != nil && len(where) > 0 {
			o.Logger.Warn("weaklink: recording gaps", "where", where)
		}
		r.RecordingGaps = &gaps
	} else {
		r.GaveUp = base.Exited()
		base.Stop()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	measure(r, p, t0, end, "rtmp", rtmpRx.Frames(), rtmpRx.byteSeries(), rtmpRx.Media())
	if box != nil {
		var wb []byteAt
		for _, f := range rx.WHIP.Frames() {
			wb = append(wb, byteAt{f.At, f.Bytes})
		}
		measure(r, p, t0, end, "whip", rx.WHIP.Frames(), wb, rtpMedia(rx.WHIP.Frames()))
		r.adaptMetrics(p, t0, samples)
	}
	// Headline figures: the worse receiver.
	for _, rr := range r.Receivers {
		r.StallS = math.Max(r.StallS, rr.StallS)
		if r.DeliveredRatio == 0 || rr.DeliveredRatio < r.DeliveredRatio {
			r.DeliveredRatio = rr.DeliveredRatio
		}
		if rr.ResumeS != nil && (r.ResumeS == nil || *rr.ResumeS > *r.ResumeS) {
			r.ResumeS = rr.ResumeS
		}
		r.LagP95S, r.LagMaxS = worse(r.LagP95S, rr.LagP95S), worse(r.LagMaxS, rr.LagMaxS)
	}
	r.StallPct = 100 * r.StallS / end.Sub(t0).Seconds()
	r.Emulator = n.Emulator
	r.NoNetem = n.NoNetem
	r.Capacity = capacitySeries(p)
	return r, nil
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

func capacitySeries(p Profile) []Point {
	var out []Point
	for t := time.Duration(0); t <= p.Duration; t += 250 * time.Millisecond {
		out = append(out, Point{t.Seconds(), p.CapacityAt(t)})
	}
	return out
}

// stallTime sums the gaps longer than 500 ms between frames, from the
// first frame to end (a stream that never started stalls throughout).
func stallTime(frames []whiptest.Frame, from, end time.Time) float64 {
	if len(frames) == 0 {
		return end.Sub(from).Seconds()
	}
	const limit = 500 * time.Millisecond
	total := 0.0
	prev := frames[0].At
	for _, f := range frames[1:] {
		if g := f.At.Sub(prev); g > limit {
			total += g.Seconds()
		}
		prev = f.At
	}
	if g := end.Sub(prev); g > limit {
		total += g.Seconds()
	}
	return total
}

// worse is the larger of two optional figures.
func worse(a, b *float64) *float64 {
	if a == nil || b != nil && *b > *a {
		return b
	}
	return a
}

// measure fills r.Receivers[name]; media is nil where the receiver sees no
// media timestamps.
func measure(r *Result, p Profile, t0, end time.Time, name string, frames []whiptest.Frame, bytes []byteAt, media []MediaArrival) {
	rr := ReceiverResult{Frames: len(frames), StallS: stallTime(frames, t0, end)}
	rr.LagP95S, rr.LagMaxS = lagStats(Lag(media))
	// Delivered vs capacity, per second, from the first frame on (the
	// encoder's start-up is not the link's fault).
	start := end
	if len(frames) > 0 {
		start = frames[0].At
	}
	var got, capBits float64
	bins := map[int]float64{}
	for _, b := range bytes {
		if b.at.Before(start) {
			continue
		}
		got += float64(b.n) * 8
		bins[int(b.at.Sub(t0)/time.Second)] += float64(b.n) * 8
	}
	for t := start; t.Before(end); t = t.Add(100 * time.Millisecond) {
		capBits += p.CapacityAt(t.Sub(t0)) * 1000 * 0.1
	}
	if capBits > 0 {
		rr.DeliveredRatio = got / capBits
	}
	if name == "rtmp" {
		for s := 0; s < int(end.Sub(t0)/time.Second); s++ {
			r.Delivered = append(r.Delivered, Point{float64(s) + 0.5, bins[s] / 1000})
		}
	}
	// Resume: first frame after each return of the link.
	var resumes []float64
	for _, up := range p.UpTimes() {
		at := t0.Add(up)
		i := sort.Search(len(frames), func(i int) bool { return !frames[i].At.Before(at) })
		if i < len(frames) {
			resumes = append(resumes, frames[i].At.Sub(at).Seconds())
		} else {
			resumes = append(resumes, end.Sub(at).Seconds()) // never came back
		}
	}
	if len(resumes) > 0 {
		m := median(resumes)
		rr.ResumeS = &m
		mx := slices.Max(resumes)
		if r.ResumeMaxS == nil || mx > *r.ResumeMaxS {
			r.ResumeMaxS = &mx
		}
	}
	if p.StepAt > 0 {
		s := stallTime(framesBetween(frames, t0.Add(p.StepAt-time.Second), t0.Add(p.StepAt+10*time.Second)),
			t0.Add(p.StepAt-time.Second), t0.Add(p.StepAt+10*time.Second))
		if r.StepStallS == nil || s > *r.StepStallS {
			r.StepStallS = &s
		}
	}
	r.Receivers[name] = rr
}

func framesBetween(f []whiptest.Frame, a, b time.Time) []whiptest.Frame {
	var out []whiptest.Frame
	for _, x := range f {
		if !x.At.Before(a) && x.At.Before(b) {
			out = append(out, x)
		}
	}
	return out
}

// adaptMetrics: time from the step until the box's total uplink (RTMP plus
// WHIP) stays at or below 0.9 × the new capacity (3 s), and from the
// return until it uses ≥ 80 % of it (2 s).
func (r *Result) adaptMetrics(p Profile, t0 time.Time, samples []Sample) {
	// Sent is the whole uplink: both publishers share the link.
	for _, s := range samples {
		r.Sent = append(r.Sent, Point{s.At.Sub(t0).Seconds(), float64(s.RTMPSent+s.WHIPSent) / 1000})
	}
	if p.StepAt == 0 {
		return
	}
	capAfter := p.CapacityAt(p.StepAt)
	if v, ok := firstHolding(r.Sent, p.StepAt.Seconds(), 3, func(x float64) bool { return x <= 0.9*capAfter }); ok {
		v -= p.StepAt.Seconds()
		r.AdaptS = &v
	}
	// What the encoder offers the link (its output, once per publisher),
	// leaving out the backlog that drains after a cut.
	var offered []Point
	for _, s := range samples {
		offered = append(offered, Point{s.At.Sub(t0).Seconds(), s.EncodedKbps * 2})
	}
	if v, ok := firstHolding(offered, p.StepAt.Seconds(), 3, func(x float64) bool { return x <= 0.9*capAfter }); ok {
		v -= p.StepAt.Seconds()
		r.AdaptEncoderS = &v
	}
	if p.ReturnAt > 0 {
		capBack := p.CapacityAt(p.ReturnAt)
		if v, ok := firstHolding(r.Sent, p.ReturnAt.Seconds(), 2, func(x float64) bool { return x >= 0.8*capBack }); ok {
			v -= p.ReturnAt.Seconds()
			r.RecoverS = &v
		}
	}
}

func firstHolding(s []Point, from, hold float64, ok func(float64) bool) (float64, bool) {
	start := -1.0
	for _, pt := range s {
		if pt.T < from {
			continue
		}
		if ok(pt.V) {
			if start < 0 {
				start = pt.T
			}
			if pt.T-start >= hold {
				return start, true
			}
		} else {
			start = -1
		}
	}
	return 0, false
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// RecordingGaps probes every segment the recorder wrote and counts holes
// longer than 500 ms in the recorded video: inside a segment (between
// packets) and between segments (by their wall-clock start times).
func RecordingGaps(ctx context.Context, dir string) (int, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, nil, fmt.Errorf("weaklink: recording: %w", err)
	}
	const limit = 500 * time.Millisecond
	gaps := 0
	var where []string
	var prevEnd time.Time
	files := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".mp4") {
			continue
		}
		ts, _, ok := strings.Cut(strings.TrimSuffix(name, ".mp4"), "-")
		if !ok {
			continue
		}
		start, err := time.Parse("20060102T150405.000Z", ts)
		if err != nil {
			continue
		}
		pr, err := rtmptest.ProbeContext(ctx, filepath.Join(dir, name), true)
		if err != nil {
			return 0, nil, fmt.Errorf("weaklink: probing %s: %w", name, err)
		}
		v := pr.Video()
		if v == nil {
			gaps++
			where = append(where, name+": no video")
			continue
		}
		pk := pr.PacketsOf(v.Index)
		if len(pk) == 0 {
			continue
		}
		files++
		for i := 1; i < len(pk); i++ {
			if d := pk[i].DTS - pk[i-1].DTS; d > limit {
				gaps++
				where = append(where, fmt.Sprintf("%s: %v at %v", name, d, pk[i-1].DTS))
			}
		}
		first := start.Add(pk[0].DTS - pk[0].DTS)
		if d := first.Sub(prevEnd); !prevEnd.IsZero() && d > limit {
			gaps++
			where = append(where, fmt.Sprintf("%v before %s", d, name))
		}
		prevEnd = start.Add(pk[len(pk)-1].DTS - pk[0].DTS + 33*time.Millisecond)
	}
	if files == 0 {
		return 0, nil, fmt.Errorf("weaklink: no recording in %s", dir)
	}
	return gaps, where, nil
}

// Median combines repeated runs: every scalar is the median over runs; the
// plot series come from the run with the median stall time.
func Median(rs []*Result) *Result {
	if len(rs) == 1 {
		return rs[0]
	}
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b *Result) int { return int(math.Copysign(1, a.StallS-b.StallS)) })
	m := *sorted[len(sorted)/2]
	col := func(f func(*Result) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		return median(v)
	}
	optCol := func(f func(*Result) *float64) *float64 {
		var v []float64
		for _, r := range rs {
			if p := f(r); p != nil {
				v = append(v, *p)
			}
		}
		if len(v) == 0 {
			return nil
		}
		x := median(v)
		return &x
	}
	for _, r := range rs {
		m.Growth = worseGrowth(m.Growth, r.Growth)
	}
	m.StallS = col(func(r *Result) float64 { return r.StallS })
	m.StallPct = col(func(r *Result) float64 { return r.StallPct })
	m.DeliveredRatio = col(func(r *Result) float64 { return r.DeliveredRatio })
	m.AdaptS = optCol(func(r *Result) *float64 { return r.AdaptS })
	m.AdaptEncoderS = optCol(func(r *Result) *float64 { return r.AdaptEncoderS })
	m.RecoverS = optCol(func(r *Result) *float64 { return r.RecoverS })
	m.ResumeS = optCol(func(r *Result) *float64 { return r.ResumeS })
	m.ResumeMaxS = optCol(func(r *Result) *float64 { return r.ResumeMaxS })
	m.StepStallS = optCol(func(r *Result) *float64 { return r.StepStallS })
	m.LagP95S = optCol(func(r *Result) *float64 { return r.LagP95S })
	m.LagMaxS = optCol(func(r *Result) *float64 { return r.LagMaxS })
	for _, r := range rs {
		m.NoNetem = m.NoNetem || r.NoNetem // a run without delay/loss taints the figures
		if r.Upload != nil && (m.Upload == nil || r.Upload.WhileLiveKB > m.Upload.WhileLiveKB) {
			m.Upload = r.Upload // the run that sent most while live
		}
	}
	if rs[0].RecordingGaps != nil {
		worst := 0
		for _, r := range rs {
			worst = max(worst, *r.RecordingGaps)
		}
		m.RecordingGaps = &worst // any gap in any run counts
	}
	return &m
}

// rtpMedia turns WHIP frames' 90 kHz RTP timestamps into media times per
// session, unwrapping the 32-bit counter, for the lag measure.
func rtpMedia(frames []whiptest.Frame) []MediaArrival {
	out := make([]MediaArrival, 0, len(frames))
	var session int
	var last uint32
	var media time.Duration
	for i, f := range frames {
		if i == 0 || f.Session != session {
			session, last, media = f.Session, f.RTPTime, 0
		} else {
			media += time.Duration(int32(f.RTPTime-last)) * time.Second / 90000
			last = f.RTPTime
		}
		out = append(out, MediaArrival{At: f.At, Media: media, Session: f.Session})
	}
	return out
}
