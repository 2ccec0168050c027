package app_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/overlay"
	"github.com/cunbo/cunbo/stream"
)

// newDeskBox builds a simulated box (test pattern, tone, demo catalogue,
// virtual panel, phone page) without destinations.
func newDeskBox(b *testing.B) *app.App { return newDeskBoxIdle(b, 0) }

// newDeskBoxIdle is newDeskBox with the pipeline's idle grace period
// (0: the default).
func newDeskBoxIdle(b *testing.B, idleAfter time.Duration) *app.App {
	b.Helper()
	epoch := time.Now()
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(true), Epoch: epoch})
	if err != nil {
		b.Fatal(err)
	}
	audio, err := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Epoch: epoch})
	if err != nil {
		b.Fatal(err)
	}
	cat, err := overlay.DemoCatalog()
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	pl, err := pipeline.New(pipeline.Config{Video: video, Audio: audio, Portrait: true, Catalog: cat,
		VideoKbps: 1200, Epoch: epoch, Logger: log, IdleAfter: idleAfter})
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.New(app.Options{Pipeline: pl, Panel: app.VirtualPanel(), HTTPAddr: "127.0.0.1:0", PIN: testPIN,
		Preview: whepLoopback(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkStartToReady is service start to "ready" (READY=1 under
// systemd): building the box, starting the panel, the pipeline with its
// ffmpeg encoder and the phone page, until the first encoded picture
// (target ≤ 5 s).
func BenchmarkStartToReady(b *testing.B) {
	var total time.Duration
	for range b.N {
		start := time.Now()
		a := newDeskBox(b)
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx, func(string) { close(ready) }) }()
		select {
		case <-ready:
		case err := <-done:
			b.Fatalf("run: %v", err)
		}
		total += time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/ready")
}

// BenchmarkIdleCPUWholeBox is the simulated box idling (not live) for 3 s
// per op during the grace period before its pipeline pauses (see
// BenchmarkIdleCPU for the paused figure), i.e. what the box costs while
// the phone preview could be opened at any moment: the Go
// process (which here also draws the test pattern, the real camera's
// work being in rpicam-vid) and the ffmpeg encoder are reported
// separately, in percent of one core.
func BenchmarkIdleCPUWholeBox(b *testing.B) {
	a := newDeskBox(b)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(string) { close(ready) }) }()
	defer func() { cancel(); <-done }()
	<-ready
	time.Sleep(time.Second)
	var self, kids, wall time.Duration
	b.ResetTimer()
	for range b.N {
		s0, k0, w0 := selfCPU(b), childrenCPU(), time.Now()
		time.Sleep(3 * time.Second)
		self += selfCPU(b) - s0
		kids += childrenCPU() - k0
		wall += time.Since(w0)
	}
	b.ReportMetric(100*self.Seconds()/wall.Seconds(), "%cpu-go")
	b.ReportMetric(100*kids.Seconds()/wall.Seconds(), "%cpu-ffmpeg")
}

// BenchmarkIdleCPU is the daemon's idle figure (target ≤ 1% of one
// core): the simulated box, not live and without preview viewers, after
// its pipeline paused capture and the encoder (grace period 2 s here,
// 10 s by default), measured over 20 s per op. CPU is the Go process
// (rusage) plus its children (/proc; ffmpeg is gone while paused, so
// this also proves no encoder lingers), in percent of one core.
func BenchmarkIdleCPU(b *testing.B) {
	a := newDeskBoxIdle(b, 2*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(string) { close(ready) }) }()
	defer func() { cancel(); <-done }()
	<-ready
	deadline := time.Now().Add(30 * time.Second)
	for !a.Pipeline().Paused() {
		if time.Now().After(deadline) {
			b.Fatal("the idle pipeline did not pause")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var self, kids, wall time.Duration
	b.ResetTimer()
	for range b.N {
		s0, k0, w0 := selfCPU(b), childrenCPU(), time.Now()
		time.Sleep(20 * time.Second)
		self += selfCPU(b) - s0
		kids += childrenCPU() - k0
		wall += time.Since(w0)
	}
	if !a.Pipeline().Paused() {
		b.Fatal("the pipeline woke up with nobody watching")
	}
	b.ReportMetric(100*(self+kids).Seconds()/wall.Seconds(), "%cpu")
	b.ReportMetric(100*self.Seconds()/wall.Seconds(), "%cpu-go")
	b.ReportMetric(100*kids.Seconds()/wall.Seconds(), "%cpu-children")
}

// captureProbe measures capture → encoded unit at the fan-out, the same
// point the WebRTC preview is fed from.
type captureProbe struct {
	pl  *pipeline.Pipeline
	mu  sync.Mutex
	lat []time.Duration
}

func (c *captureProbe) SetTracks(stream.Tracks)      {}
func (c *captureProbe) WriteAudio(*stream.AudioUnit) {}
func (c *captureProbe) WriteVideo(u *stream.VideoUnit) {
	if at, ok := c.pl.CaptureTime(u.PTS); ok {
		c.mu.Lock()
		c.lat = append(c.lat, time.Since(at))
		c.mu.Unlock()
	}
}

func (c *captureProbe) median() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lat) == 0 {
		return 0
	}
	l := slices.Clone(c.lat)
	slices.Sort(l)
	return l[len(l)/2]
}

type receiverStats struct {
	Frames     float64 `json:"frames"`
	Processing float64 `json:"processing"` // s, first packet received → decoded, summed
	Jitter     float64 `json:"jitter"`     // s, jitter buffer delay, summed
	Emitted    float64 `json:"emitted"`
}

const receiverStatsJS = `(async () => { const pc = window.cunboPreview; if (!pc) return null;
  let r = null; (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video')
    r = {frames: s.framesDecoded || 0, processing: s.totalProcessingDelay || 0,
         jitter: s.jitterBufferDelay || 0, emitted: s.jitterBufferEmittedCount || 0}; });
  return r; })()`

// BenchmarkPreviewGlassToGlass estimates the phone preview's delay from
// the camera delivering a picture to the browser having it decoded, on
// loopback: capture → encoded H.264 at the fan-out (measured on every
// unit with the pipeline's capture log) plus, in Chromium, first packet
// received → frame decoded (WebRTC's totalProcessingDelay, which includes
// the jitter buffer). Not included: sensor exposure and the phone's
// display refresh (one frame each, ~33 ms and ~16 ms), and Wi-Fi. The
// WHEP sink's own share (sink → viewer) is ~1 ms (stream/whep tests).
// Target: under 500 ms glass to glass.
func BenchmarkPreviewGlassToGlass(b *testing.B) {
	for range b.N {
		a := newDeskBox(b)
		probe := &captureProbe{pl: a.Pipeline()}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx, func(addr string) { ready <- addr }) }()
		base := "http://" + <-ready
		if err := a.Pipeline().AddOutput("latency-probe", probe); err != nil {
			b.Fatal(err)
		}
		browser := chromium(b)
		do(b, browser, 30*time.Second,
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.CSS("#pin")),
			chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
			chromedp.Click(chromedp.CSS("#login-button")),
			poll(playbackJS+`.frames > 30`),
		)
		s0 := evalAwait[receiverStats](b, browser, receiverStatsJS)
		time.Sleep(4 * time.Second)
		s1 := evalAwait[receiverStats](b, browser, receiverStatsJS)
		frames := s1.Frames - s0.Frames
		if frames < 30 {
			b.Fatalf("only %v frames decoded in 4 s", frames)
		}
		recv := time.Duration((s1.Processing - s0.Processing) / frames * float64(time.Second))
		jitter := time.Duration((s1.Jitter - s0.Jitter) / (s1.Emitted - s0.Emitted) * float64(time.Second))
		enc := probe.median()
		b.ReportMetric(float64(enc.Microseconds())/1000, "ms-capture-to-encoded")
		b.ReportMetric(float64(recv.Microseconds())/1000, "ms-received-to-decoded")
		b.ReportMetric(float64(jitter.Microseconds())/1000, "ms-jitter-buffer")
		b.ReportMetric(float64((enc+recv).Microseconds())/1000, "ms-capture-to-decoded")
		cancel()
		<-done
	}
}

func evalAwait[T any](b testing.TB, ctx context.Context, expr string) T {
	b.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fatalf("chromium: %v", err)
	}
	return v
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childrenCPU sums the CPU time of running child processes from /proc
// (RUSAGE_CHILDREN only counts children already waited for).
func childrenCPU() time.Duration {
	const clockTicks = 100 // USER_HZ on Linux
	me := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total time.Duration
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		// After the command: state ppid ... utime(12) stime(13), 0-based.
		if len(f) < 14 || f[1] != me {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * time.Second / clockTicks
	}
	return total
}
