package weaklink

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/whip/whiptest"
)

// TestShortStepDown runs a compressed step-down (4 → 1 Mbit/s at 10 s, back
// at 25 s) through the real namespaces, tc, nginx, WHIP receiver, encoder
// and recorder, so CI exercises the bench's plumbing end to end.
func TestShortStepDown(t *testing.T) {
	r := runShort(t, StepDown(10*time.Second, 25*time.Second, 40*time.Second), 200)
	t.Logf("stall %.2fs, step stall %v, adapt %v, recover %v, delivered %.2f, recording gaps %v, receivers %+v",
		r.StallS, deref(r.StepStallS), deref(r.AdaptS), deref(r.RecoverS), r.DeliveredRatio, *r.RecordingGaps, r.Receivers)
	t.Logf("lag at the RTMP player: p95 %v s, max %v s", deref(r.LagP95S), deref(r.LagMaxS))
	if r.LagP95S == nil || r.LagMaxS == nil || r.Receivers["rtmp"].LagMaxS == nil {
		t.Error("no lag figures: the RTMP player recorded no media timestamps")
	}
	if *r.RecordingGaps != 0 {
		t.Errorf("%d gaps in the local recording", *r.RecordingGaps)
	}
	for _, name := range []string{"rtmp", "whip"} {
		if rr := r.Receivers[name]; rr.Frames < 30*20 {
			t.Errorf("%s receiver got %d frames in 40 s", name, rr.Frames)
		}
	}
	// Adaptation figures are logged, not asserted: under -race on a shared
	// two-core machine they measure the machine; the bench report holds
	// them. The WHIP path must still flow almost without stalls.
	if w := r.Receivers["whip"]; w.StallS > 8 {
		t.Errorf("WHIP receiver stalled %.2f s", w.StallS)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestSelect(t *testing.T) {
	ps, err := Select("stepdown,outage", 1)
	if err != nil || len(ps) != 2 || ps[0].Name != "stepdown" || ps[1].Name != "outage" {
		t.Fatalf("Select = %v, %v", ps, err)
	}
	if _, err := Select("stepdown,nope", 1); err == nil {
		t.Error("unknown profile accepted")
	}
	all, _ := Select("", 0.1)
	for _, p := range all {
		if p.Name == "rural4g" && p.Duration != 30*time.Second {
			t.Errorf("scaled rural4g lasts %v", p.Duration)
		}
	}
	f := Flapping(2*time.Second, 10*time.Second, 2*time.Minute)
	if len(f.UpTimes()) != 12 || f.CapacityAt(11*time.Second) != 0 || f.CapacityAt(12*time.Second) != 4000 {
		t.Errorf("flapping: %d returns, cap %v/%v", len(f.UpTimes()), f.CapacityAt(11*time.Second), f.CapacityAt(12*time.Second))
	}
}

// frameSeries builds n video frames at 30 fps of media time; arrive gives
// each frame's arrival offset from the start given its index and media ts.
func frameSeries(start time.Time, n int, session int, mediaFrom time.Duration, arrive func(i int, media time.Duration) time.Duration) []MediaArrival {
	out := make([]MediaArrival, n)
	for i := range out {
		m := mediaFrom + time.Duration(i)*time.Second/30
		out[i] = MediaArrival{At: start.Add(arrive(i, m-mediaFrom)), Media: m, Session: session}
	}
	return out
}

func TestLag(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	onTime := func(_ int, m time.Duration) time.Duration { return m }
	// ±20 ms of deterministic jitter.
	jittery := func(i int, m time.Duration) time.Duration {
		return m + time.Duration((i*37)%41-20)*time.Millisecond
	}
	// Back-pressure: frames leave 25 % slower than real time.
	slowed := func(_ int, m time.Duration) time.Duration { return m * 5 / 4 }
	cat := func(parts ...[]MediaArrival) []MediaArrival {
		var out []MediaArrival
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name             string
		frames           []MediaArrival
		wantP95, wantMax float64 // seconds
		tol              float64
		growing          bool // lag must rise over the run
	}{
		{name: "on time", frames: frameSeries(t0, 300, 1, 0, onTime), wantP95: 0, wantMax: 0, tol: 0.001},
		{name: "on time with jitter", frames: frameSeries(t0, 300, 1, 0, jittery), wantP95: 0.035, wantMax: 0.04, tol: 0.006},
		{
			// 12 s of arrivals for 10 s of media: lag ends at 2.5 s.
			name: "slowed by back-pressure", frames: frameSeries(t0, 300, 1, 0, slowed),
			wantP95: 2.37, wantMax: 2.49, tol: 0.02, growing: true,
		},
		{
			// 3 s of link outage; the encoder dropped those frames, so
			// the stream resumes with fresh ones: a stall, not lag.
			name: "GOP skip after a stall",
			frames: cat(frameSeries(t0, 90, 1, 0, onTime),
				frameSeries(t0.Add(6*time.Second), 90, 1, 6*time.Second, onTime)),
			wantP95: 0, wantMax: 0, tol: 0.001,
		},
		{
			// The same outage with nothing dropped: the backlog arrives
			// late and stays late.
			name: "stall delivered late",
			frames: cat(frameSeries(t0, 90, 1, 0, onTime),
				frameSeries(t0.Add(6*time.Second), 90, 1, 3*time.Second, onTime)),
			wantP95: 3, wantMax: 3, tol: 0.001,
		},
		{
			// The publisher reconnected and its clock restarted at 0
			// within one play session.
			name: "timestamp restart",
			frames: cat(frameSeries(t0, 150, 1, 40*time.Second, onTime),
				frameSeries(t0.Add(9*time.Second), 150, 1, 0, onTime)),
			wantP95: 0, wantMax: 0, tol: 0.001,
		},
		{
			// A new play session whose stream clock starts far ahead: no
			// negative lag, and a slowed second session still shows.
			name: "new session, clock ahead, then slowed",
			frames: cat(frameSeries(t0, 90, 1, 0, onTime),
				frameSeries(t0.Add(5*time.Second), 300, 2, 100*time.Second, slowed)),
			wantP95: 2.33, wantMax: 2.49, tol: 0.01, growing: true,
		},
		{
			// The first frame was held up 300 ms; the rest are on time.
			name: "late first frame",
			frames: frameSeries(t0, 300, 1, 0, func(i int, m time.Duration) time.Duration {
				if i == 0 {
					return 300 * time.Millisecond
				}
				return m + 300*time.Millisecond + time.Millisecond*time.Duration(i%2)
			}),
			wantP95: 0.001, wantMax: 0.001, tol: 0.0005,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lag := Lag(tc.frames)
			if len(lag) != len(tc.frames) {
				t.Fatalf("%d lags for %d frames", len(lag), len(tc.frames))
			}
			for i, l := range lag {
				if l < 0 {
					t.Fatalf("frame %d: negative lag %.3f", i, l)
				}
			}
			p95, mx := lagStats(lag)
			if math.Abs(*p95-tc.wantP95) > tc.tol || math.Abs(*mx-tc.wantMax) > tc.tol {
				t.Errorf("p95 %.3f max %.3f, want %.3f %.3f (±%.3f)", *p95, *mx, tc.wantP95, tc.wantMax, tc.tol)
			}
			n := len(lag)
			if rising := lag[n-1] > lag[n/2]+0.5; rising != tc.growing {
				t.Errorf("lag at half %.3f, at end %.3f: growing = %v, want %v", lag[n/2], lag[n-1], rising, tc.growing)
			}
		})
	}
	if p, m := lagStats(Lag(nil)); p != nil || m != nil {
		t.Errorf("no frames gave lag %v %v", p, m)
	}
}

// TestMeasureLag: the RTMP receiver gets lag figures from its media
// timestamps, WHIP (no timestamps) none, and Median keeps them.
func TestMeasureLag(t *testing.T) {
	t0 := time.Now()
	p := StepDown(2*time.Second, 0, 12*time.Second)
	media := frameSeries(t0, 300, 1, 0, func(_ int, m time.Duration) time.Duration { return m * 6 / 5 })
	var frames []whiptest.Frame
	var bytes []byteAt
	for _, m := range media {
		frames = append(frames, whiptest.Frame{At: m.At, Bytes: 1000})
		bytes = append(bytes, byteAt{m.At, 1000})
	}
	end := t0.Add(p.Duration)
	r := &Result{Receivers: map[string]ReceiverResult{}}
	measure(r, p, t0, end, "rtmp", frames, bytes, media)
	measure(r, p, t0, end, "whip", frames, bytes, nil)
	rt, wh := r.Receivers["rtmp"], r.Receivers["whip"]
	if rt.LagMaxS == nil || math.Abs(*rt.LagMaxS-1.99) > 0.02 || rt.LagP95S == nil || *rt.LagP95S > *rt.LagMaxS {
		t.Errorf("rtmp lag p95 %v max %v, want max ≈ 1.99 s", deref(rt.LagP95S), deref(rt.LagMaxS))
	}
	if wh.LagP95S != nil || wh.LagMaxS != nil {
		t.Errorf("whip has lag %v %v without media timestamps", deref(wh.LagP95S), deref(wh.LagMaxS))
	}
	a, b, c := 1.0, 3.0, 2.0
	m := Median([]*Result{{LagP95S: &a, LagMaxS: &b}, {LagP95S: &b, LagMaxS: &b}, {LagP95S: &c}})
	if m.LagP95S == nil || *m.LagP95S != 2 || m.LagMaxS == nil || *m.LagMaxS != 3 {
		t.Errorf("median lag %v %v, want 2 3", deref(m.LagP95S), deref(m.LagMaxS))
	}
	if w := worse(worse(nil, &a), &b); w != &b || worse(&c, nil) != &c {
		t.Error("worse picks the wrong figure")
	}
}

// TestReportLagAndEmulator: the JSON and Markdown carry the lag figures and
// the emulator; the no-netem warning appears only when it is true.
func TestReportLagAndEmulator(t *testing.T) {
	lp, lm, rp, rm := 0.04, 0.09, 7.5, 12.25
	mk := func(noNetem bool) *Report {
		rep := NewReport(1)
		rep.Add("stepdown", "cunbo", &Result{LagP95S: &lp, LagMaxS: &lm, Emulator: EmulatorLinkemu, NoNetem: noNetem,
			Receivers: map[string]ReceiverResult{"rtmp": {Frames: 10, LagP95S: &lp, LagMaxS: &lm}, "whip": {Frames: 10}}})
		rep.Add("stepdown", "baseline", &Result{LagP95S: &rp, LagMaxS: &rm, Emulator: EmulatorLinkemu, NoNetem: noNetem,
			Receivers: map[string]ReceiverResult{"rtmp": {Frames: 10, LagP95S: &rp, LagMaxS: &rm}}})
		return rep
	}
	dir := t.TempDir()
	if err := mk(false).Write(dir); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Profiles map[string]map[string]struct {
			LagP95S   *float64 `json:"lag_p95_s"`
			LagMaxS   *float64 `json:"lag_max_s"`
			Emulator  string   `json:"emulator"`
			Receivers map[string]map[string]any
		}
	}
	j, err := os.ReadFile(filepath.Join(dir, "weaklink.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(j, &got); err != nil {
		t.Fatal(err)
	}
	b := got.Profiles["stepdown"]["baseline"]
	if b.LagP95S == nil || *b.LagP95S != rp || b.LagMaxS == nil || *b.LagMaxS != rm || b.Emulator != EmulatorLinkemu {
		t.Errorf("baseline JSON: %s", j)
	}
	if v := got.Profiles["stepdown"]["cunbo"].Receivers["rtmp"]["lag_p95_s"]; v != lp {
		t.Errorf("cunbo rtmp receiver lag_p95_s = %v", v)
	}
	if _, ok := got.Profiles["stepdown"]["cunbo"].Receivers["whip"]["lag_p95_s"]; ok {
		t.Error("whip receiver reports a lag it cannot measure")
	}
	md, err := os.ReadFile(filepath.Join(dir, "weaklink.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| lag s p95 (max) |", "| 7.50 (12.25) |", "| 0.04 (0.09) |",
		"delay, jitter and random loss: userspace (linkemu).", "lag = "} {
		if !strings.Contains(string(md), want) {
			t.Errorf("weaklink.md lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "no sch_netem") {
		t.Error("no-netem warning without NoNetem")
	}
	if err := mk(true).Write(dir); err != nil {
		t.Fatal(err)
	}
	if md, _ := os.ReadFile(filepath.Join(dir, "weaklink.md")); !strings.Contains(string(md), "no sch_netem") {
		t.Error("NoNetem result without the warning")
	}
}

// TestShortFlapping takes the link down for 2 s every 6 s, five times,
// through the real namespaces: publishing comes back after every return,
// the local recording has no hole, and the process does not grow.
func TestShortFlapping(t *testing.T) {
	r := runShort(t, Flapping(2*time.Second, 6*time.Second, 30*time.Second), 150)
	t.Logf("stall %.2fs, resume %v (max %v), recording gaps %d, growth %v", r.StallS, deref(r.ResumeS), deref(r.ResumeMaxS),
		*r.RecordingGaps, r.Growth)
	if *r.RecordingGaps != 0 {
		t.Errorf("%d gaps in the local recording", *r.RecordingGaps)
	}
	if r.ResumeS == nil || *r.ResumeS > 2 {
		t.Errorf("median resume after the link returned: %v s (want ≤ 2)", deref(r.ResumeS))
	}
	if r.Growth == nil {
		t.Fatal("no resource figures")
	}
	g := *r.Growth
	if d := g.To.Goroutines - g.From.Goroutines; d > 20 {
		t.Errorf("goroutines grew by %d: %v", d, g)
	}
	if d := g.To.FDs - g.From.FDs; d > 8 {
		t.Errorf("open files grew by %d: %v", d, g)
	}
	if d := g.To.HeapKiB - g.From.HeapKiB; d > 16<<10 {
		t.Errorf("heap grew by %d KiB: %v", d, g)
	}
}

// runShort plays a compressed profile against cunbo through the real
// namespaces, tc, nginx, WHIP receiver, encoder and recorder (root only;
// CI runs as root). WEAKLINK_DEBUG=1 logs the box.
func runShort(t *testing.T, p Profile, netBase int) *Result {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for ip netns and tc (CI runs as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	clip, err := MakeClip(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var log *slog.Logger
	if os.Getenv("WEAKLINK_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r, err := Run(ctx, p, "cunbo", Options{Dir: dir, Clip: clip, NetID: netBase + os.Getpid()%50, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
