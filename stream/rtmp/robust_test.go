package rtmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/cunbo/cunbo/stream"
)

// TestRepeatedReconnectDoesNotLeak: 100 forced reconnects in a row (the
// ingest drops the connection, the network monitor kicks) each end in a
// fresh, well-formed publish, and leave goroutines, file descriptors and
// heap where they were after the first 10.
func TestRepeatedReconnectDoesNotLeak(t *testing.T) {
	const warmup, n = 10, 100
	ctx, cancel := context.WithTimeoutCause(context.Background(), 50*time.Second,
		errors.New("test ran out of time (a reconnect stuck?)"))
	defer cancel()
	srv := newIngest(t, false)
	// Default backoff: without the kicks, 100 short-lived links in a row
	// would back off to 5 s each.
	p, err := New(Config{URL: srv.URL("flap"), ConnectTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(runCtx) }()
	defer func() {
		stopRun()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()
	stopFeed := feedSynthetic(ctx, t, p, synthOptions{FPS: 30, GOP: 3, KeyBytes: 6000, FrameBytes: 1500})

	// publishedWithMedia: publish i arrived and carried a keyframe and audio.
	publishedWithMedia := func(i int) func() bool {
		return func() bool {
			s, ok := srv.Session(i)
			return ok && s.Keys > 0 && s.Audio > 0
		}
	}
	waitUntil(t, ctx, "first publish", publishedWithMedia(0))

	var g0, fd0 int
	var h0 uint64
	for i := range warmup + n {
		if i == warmup {
			g0, fd0, h0 = settledGoroutines(0), openFDs(t), heapInUse()
		}
		if srv.DropAll() != 1 {
			t.Fatalf("reconnect %d: publisher not connected to drop", i+1)
		}
		p.Kick()
		waitUntil(t, ctx, fmt.Sprintf("reconnect %d", i+1), publishedWithMedia(i+1))
	}
	g1, fd1, h1 := settledGoroutines(g0), openFDs(t), heapInUse()
	t.Logf("%d reconnects: goroutines %d → %d, fds %d → %d, heap in use %d → %d KiB",
		n, g0, g1, fd0, fd1, h0>>10, h1>>10)
	if g1 > g0+2 {
		t.Errorf("goroutines grew from %d to %d over %d reconnects", g0, g1, n)
	}
	if fd1 > fd0+2 {
		t.Errorf("file descriptors grew from %d to %d over %d reconnects", fd0, fd1, n)
	}
	if h1 > h0+1<<20 { // a leaked session retains ~19 KiB: 100 of them show
		t.Errorf("heap in use grew from %d to %d KiB over %d reconnects", h0>>10, h1>>10, n)
	}

	stopFeed()
	st := p.Stats()
	if st.Connects != warmup+n+1 || st.Reconnects != warmup+n || !st.Connected {
		t.Errorf("stats %+v, want %d connects", st, warmup+n+1)
	}
	if st.LastError == nil || !strings.Contains(st.LastError.Error(), "connection lost") {
		t.Errorf("last error %v, want the dropped connection", st.LastError)
	}
	for i := range srv.Sessions() {
		s, _ := srv.Session(i)
		if s.Err != nil || !s.FirstVideoKey || s.FirstVideoDTS != 0 || s.Key != "/live/flap" {
			t.Fatalf("publish %d: %+v, want a clean publish starting with a keyframe at 0", i, s)
		}
	}
}

// settledGoroutines lets goroutines that are on their way out (closed
// connections' readers) finish. With a limit it waits up to 2 s for the
// count to come down to it; without one it samples for 300 ms. It returns
// the lowest count seen.
func settledGoroutines(limit int) int {
	wait := 300 * time.Millisecond
	if limit > 0 {
		wait = 2 * time.Second
	}
	low := runtime.NumGoroutine()
	for deadline := time.Now().Add(wait); time.Now().Before(deadline) && (limit == 0 || low > limit); {
		time.Sleep(20 * time.Millisecond)
		low = min(low, runtime.NumGoroutine())
	}
	return low
}

func openFDs(t *testing.T) int {
	e, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// logRecorder is a slog handler that keeps records for the test to check
// and echoes them to t.Log.
type logRecorder struct {
	t  *testing.T
	mu *sync.Mutex
	rs *[]slog.Record
}

func newLogRecorder(t *testing.T) logRecorder {
	return logRecorder{t: t, mu: &sync.Mutex{}, rs: &[]slog.Record{}}
}

func (h logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h logRecorder) WithGroup(string) slog.Handler            { return h }
func (h logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	*h.rs = append(*h.rs, r.Clone())
	h.mu.Unlock()
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.t.Logf("%s %s%s", r.Level, r.Message, b.String())
	return nil
}

// linkDowns returns the time and error text of every "link down" warning.
func (h logRecorder) linkDowns() (at []time.Time, errs []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range *h.rs {
		if r.Level != slog.LevelWarn || r.Message != "rtmp: link down" {
			continue
		}
		at = append(at, r.Time)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				errs = append(errs, a.Value.String())
			}
			return true
		})
	}
	return at, errs
}

// TestStalledServerIsNoticedAndRetried: an ingest that completes the
// publish and then stops reading (its TCP window closes, nothing is
// acknowledged) is declared dead by the write deadline, reported in Stats
// and the log, and retried on the backoff schedule, not in a tight loop.
func TestStalledServerIsNoticedAndRetried(t *testing.T) {
	ctx, cancel := context.WithTimeoutCause(context.Background(), 40*time.Second,
		errors.New("test ran out of time"))
	defer cancel()
	srv := newIngest(t, true)
	logs := newLogRecorder(t)
	const writeTimeout, lo, hi = 400 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond
	p, err := New(Config{URL: srv.URL("stall"), Logger: slog.New(logs),
		ConnectTimeout: 2 * time.Second, WriteTimeout: writeTimeout, BackoffMin: lo, BackoffMax: hi})
	if err != nil {
		t.Fatal(err)
	}
	stop := startPublisher(t, p)
	// ~4 Mbit/s so the closed window stops the writes within a second.
	feedSynthetic(ctx, t, p, synthOptions{FPS: 30, GOP: 15, KeyBytes: 60_000, FrameBytes: 12_000})

	const stalls = 5
	waitUntil(t, ctx, "stalls noticed", func() bool { at, _ := logs.linkDowns(); return len(at) >= stalls })
	st := p.Stats()
	if st.LastError == nil || !errors.Is(st.LastError, os.ErrDeadlineExceeded) || !strings.Contains(st.LastError.Error(), "send") {
		t.Errorf("last error %v, want a send that hit its deadline", st.LastError)
	}
	if strings.Contains(st.LastError.Error(), "stall") {
		t.Errorf("stream key in error: %v", st.LastError)
	}
	if st.Connects < stalls {
		t.Errorf("%d connects, want every stalled publish to have been accepted (≥ %d)", st.Connects, stalls)
	}
	downs, errs := logs.linkDowns()
	for i, e := range errs {
		if !strings.Contains(e, "i/o timeout") {
			t.Errorf("link down %d logged %q, want the write deadline", i, e)
		}
	}
	// Each retry waits retry.Delay(lo, hi, attempt) after the failure:
	// none for the first, then at least half of lo×1.6^(attempt-1),
	// capped at hi.
	accepts := srv.Accepts()
	for k := range stalls - 1 {
		if k+1 >= len(accepts) {
			break
		}
		gap := accepts[k+1].Sub(downs[k])
		want := time.Duration(0)
		if k > 0 {
			d := float64(lo)
			for range k - 1 {
				d = min(d*1.6, float64(hi))
			}
			want = time.Duration(d / 2)
		}
		t.Logf("retry %d: %v after the failure (schedule ≥ %v)", k+1, gap.Round(time.Millisecond), want)
		if gap < want-20*time.Millisecond {
			t.Errorf("retry %d came %v after the failure, backoff says ≥ %v", k+1, gap, want)
		}
		if gap > hi+3*time.Second {
			t.Errorf("retry %d came %v after the failure, backoff caps at %v", k+1, gap, hi)
		}
	}
	// A publish lasts about as long as it takes to fill the window plus
	// the write deadline; far longer means the deadline did not fire.
	for k := range stalls - 1 {
		s, _ := srv.Session(k)
		if life := downs[k].Sub(s.Published); life > writeTimeout+5*time.Second {
			t.Errorf("stalled publish %d lasted %v before the publisher noticed", k, life)
		}
	}
	stopped := time.Now()
	stop()
	if d := time.Since(stopped); d > 2*time.Second {
		t.Errorf("Run took %v to stop", d)
	}
}

// TestStopWhileWriteBlockedIsPrompt: cancelling Run while a write sits on
// a closed TCP window returns at once, not after the write deadline.
func TestStopWhileWriteBlockedIsPrompt(t *testing.T) {
	ctx, cancel := context.WithTimeoutCause(context.Background(), 30*time.Second,
		errors.New("test ran out of time"))
	defer cancel()
	srv := newIngest(t, true)
	p, err := New(Config{URL: srv.URL("stop"), WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	feedSynthetic(ctx, t, p, synthOptions{FPS: 30, GOP: 15, KeyBytes: 60_000, FrameBytes: 12_000})
	// Connected, yet a second's worth of units is waiting: the sender is
	// stuck in a write.
	waitUntil(t, ctx, "write blocked on the stalled server", func() bool {
		s := p.Stats()
		return s.Connected && s.BacklogUnits > 45
	})
	stopped := time.Now()
	stopRun()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not return after cancel")
	}
	took := time.Since(stopped)
	t.Logf("stopped in %v", took.Round(time.Millisecond))
	if took > 1500*time.Millisecond {
		t.Errorf("Run took %v to stop with a write blocked, want well under the polite-close bound", took)
	}
	if s := p.Stats(); s.Connected || s.LastError != nil {
		t.Errorf("stats after stop %+v, want disconnected and no error (stopping is not a failure)", s)
	}
}

// TestPingAfterPauseIsAnswered: when the source pauses for longer than
// WriteTimeout (an encoder restart, a camera hiccup) and the ingest pings
// meanwhile, the pong goes out on a fresh deadline instead of failing on
// the stale one and dropping a healthy link.
func TestPingAfterPauseIsAnswered(t *testing.T) {
	ctx, cancel := context.WithTimeoutCause(context.Background(), 20*time.Second,
		errors.New("test ran out of time"))
	defer cancel()
	srv := newIngest(t, false)
	const writeTimeout = 300 * time.Millisecond
	p, err := New(Config{URL: srv.URL("ping"), WriteTimeout: writeTimeout, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	startPublisher(t, p)
	p.SetTracks(testTracks(t))
	idr := []byte{byte(h264.NALUTypeIDR) | 0x60, 0x88, 0x84, 0x00}
	slice := []byte{byte(h264.NALUTypeNonIDR) | 0x40, 0x9a, 0x02, 0x00}
	p.WriteVideo(&stream.VideoUnit{Key: true, NALUs: [][]byte{idr}})
	p.WriteAudio(&stream.AudioUnit{PTS: 10 * time.Millisecond, Data: []byte{0x21, 0x00, 0x03}})
	waitUntil(t, ctx, "first publish", func() bool { s, ok := srv.Session(0); return ok && s.Audio == 1 })

	time.Sleep(2 * writeTimeout) // the source pauses
	if err := srv.Ping(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the ping reaches the publisher's read-ahead
	p.WriteVideo(&stream.VideoUnit{PTS: time.Second, DTS: time.Second, NALUs: [][]byte{slice}})
	waitUntil(t, ctx, "the frame after the pause", func() bool {
		s, _ := srv.Session(0)
		return s.Video == 2 || srv.Sessions() > 1
	})
	s, _ := srv.Session(0)
	if st := p.Stats(); st.Connects != 1 || st.LastError != nil || s.Pongs != 1 || s.Err != nil {
		t.Errorf("stats %+v, publish %+v: want one connection that answered the ping", st, s)
	}
}
