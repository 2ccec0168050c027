package heartbeat_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/heartbeat"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
)

// service is the real review service on SQLite behind a switch that
// answers 503 on the heartbeat path while down, counting the box's
// heartbeats.
type service struct {
	st    store.Store
	url   string
	box   string
	key   ed25519.PrivateKey
	down  atomic.Bool
	beats atomic.Int64 // heartbeat requests, answered or not
}

func newService(t *testing.T) *service {
	t.Helper()
	srv, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s := &service{st: srv.Store()}
	h := srv.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/"+heartbeat.Path {
			s.beats.Add(1)
			if s.down.Load() {
				http.Error(w, "down for the test", http.StatusServiceUnavailable)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	s.url = hs.URL
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.key = priv
	if s.box, err = boxauth.Enroll(context.Background(), s.st, pub, "雷山 村A", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	return s
}

// stored is the service's heartbeats of the box, newest first, parsed.
func (s *service) stored(t *testing.T) []map[string]any {
	t.Helper()
	hs, err := s.st.Heartbeats(context.Background(), s.box, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, h := range hs {
		var m map[string]any
		if err := json.Unmarshal(h.Report, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// fakeSys is a machine with fixed readings; zero values are unknown.
type fakeSys struct {
	up             time.Duration
	temp           *float64
	throttled      *[2]bool
	free, total    uint64
	diskErr        error
	throttledCalls atomic.Int64
}

func (f *fakeSys) Uptime() (time.Duration, bool) { return f.up, f.up > 0 }
func (f *fakeSys) TempC() (float64, bool) {
	if f.temp == nil {
		return 0, false
	}
	return *f.temp, true
}
func (f *fakeSys) Throttled(context.Context) (bool, bool, bool) {
	f.throttledCalls.Add(1)
	if f.throttled == nil {
		return false, false, false
	}
	return f.throttled[0], f.throttled[1], true
}
func (f *fakeSys) Disk(string) (uint64, uint64, error) { return f.free, f.total, f.diskErr }

// countHandler counts log records by level.
type countHandler struct {
	mu sync.Mutex
	n  map[slog.Level]int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[slog.Level]int{}
	}
	h.n[r.Level]++
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }
func (h *countHandler) count(l slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[l]
}

func (s *service) sender(t *testing.T, interval time.Duration, src heartbeat.Sources, log *slog.Logger) *heartbeat.Sender {
	t.Helper()
	c, err := upload.NewBoxClient(s.url, s.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hb, err := heartbeat.New(heartbeat.Config{Client: c, Sources: src, Interval: interval,
		MinBackoff: 40 * time.Millisecond, MaxBackoff: 160 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return hb
}

func run(t *testing.T, hb *heartbeat.Sender) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hb.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// What the box knows reaches the service as the fleet page reads it;
// what it cannot know (a PC: no sensor, no vcgencmd) arrives as null.
func TestReportReachesService(t *testing.T) {
	s := newService(t)
	temp := 81.5
	queued := time.Now().Add(-50 * time.Hour)
	var meter heartbeat.LinkMeter
	t1 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	meter.Begin(t1)
	meter.Sample(2000)
	meter.Stalled(t1.Add(10*time.Minute), true)
	meter.Sample(0)
	meter.Stalled(t1.Add(13*time.Minute), false)
	meter.Sample(2500)
	meter.End(t1.Add(60 * time.Minute))
	for _, tc := range []struct {
		name  string
		src   heartbeat.Sources
		check map[string]any
	}{
		{"a Pi with everything", heartbeat.Sources{
			Version: "1.4.0", ConfigVersion: func() uint64 { return 7 }, DataDir: "/data",
			Sys:  &fakeSys{up: 90 * time.Minute, temp: &temp, throttled: &[2]bool{true, true}, free: 5 << 30, total: 64 << 30},
			Link: meter.Last, SpeechRestarts: func() int { return 4 },
			Queue: func() (int, time.Time) { return 3, queued },
		}, map[string]any{
			"version": "1.4.0", "config_version": 7.0, "uptime_s": 5400.0, "disk_free_bytes": float64(5 << 30), "disk_free_pct": 7.8,
			"temp_c": 81.5, "throttled": true, "throttled_since_boot": true, "speech_restarts": 4.0, "queue_len": 3.0,
			"last_live": map[string]any{"ended": "2026-12-06T21:00:00Z", "stall_pct": 5.0, "mean_kbps": 1500.0},
		}},
		{"a PC knowing nothing", heartbeat.Sources{Version: "devel", Sys: &fakeSys{}}, map[string]any{
			"version": "devel", "config_version": 0.0, "temp_c": nil, "throttled": nil, "throttled_since_boot": nil,
			"last_live": nil, "queue_age_s": 0.0, "disk_free_pct": 0.0,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.stored(t))
			hb := s.sender(t, time.Hour, tc.src, nil)
			stop := run(t, hb)
			waitFor(t, "a heartbeat at the service", func() bool { return len(s.stored(t)) > before })
			stop()
			got := s.stored(t)[0]
			for k, want := range tc.check {
				g, _ := json.Marshal(got[k])
				w, _ := json.Marshal(want)
				if string(g) != string(w) {
					t.Errorf("%s: %s, want %s", k, g, w)
				}
			}
			if tc.src.Queue != nil {
				if age := got["queue_age_s"].(float64); age < 50*3600 || age > 51*3600 {
					t.Errorf("queue age %v s, want about 50 h", age)
				}
			}
		})
	}
}

// Never while live: no heartbeat goes out during a live however short
// the interval, and one goes right after it ends, long before the next
// interval would have sent it.
func TestNotWhileLive(t *testing.T) {
	s := newService(t)
	hb := s.sender(t, time.Hour, heartbeat.Sources{Version: "1.0", Sys: &fakeSys{}}, nil)
	run(t, hb)
	waitFor(t, "the first heartbeat", func() bool { return hb.Sent() == 1 })
	hb.SetLive(true)
	n := s.beats.Load()
	// The hour-long interval would not send anyway; make it short to see
	// that live holds it back: a second sender, live from the start.
	hb2 := s.sender(t, 20*time.Millisecond, heartbeat.Sources{Version: "1.0", Sys: &fakeSys{}}, nil)
	hb2.SetLive(true)
	run(t, hb2)
	time.Sleep(500 * time.Millisecond)
	if got := s.beats.Load(); got != n {
		t.Fatalf("%d heartbeats sent while live", got-n)
	}
	start := time.Now()
	hb.SetLive(false)
	waitFor(t, "the heartbeat after the live", func() bool { return hb.Sent() == 2 })
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the heartbeat after the live took %v", d)
	}
	hb2.SetLive(false)
	waitFor(t, "the short-interval box's heartbeats once idle", func() bool { return hb2.Sent() >= 3 })
}

// A service that is down: growing waits, one warning for the whole
// outage, and heartbeats again once it is back.
func TestBackoffQuietly(t *testing.T) {
	s := newService(t)
	s.down.Store(true)
	logs := &countHandler{}
	hb := s.sender(t, 10*time.Millisecond, heartbeat.Sources{Version: "1.0", Sys: &fakeSys{}}, slog.New(logs))
	run(t, hb)
	time.Sleep(1500 * time.Millisecond)
	tries := s.beats.Load()
	// Without backoff, a 10 ms interval would try ~150 times; with waits
	// growing to 160 ms, at most 1.5 s / 20 ms + a few.
	if tries < 3 || tries > 40 {
		t.Fatalf("%d tries in 1.5 s while the service is down", tries)
	}
	if w := logs.count(slog.LevelWarn); w != 1 {
		t.Fatalf("%d warnings for one outage, want 1", w)
	}
	if hb.Sent() != 0 {
		t.Fatal("heartbeats counted as sent while down")
	}
	s.down.Store(false)
	waitFor(t, "a heartbeat after the outage", func() bool { return len(s.stored(t)) > 0 })
	waitFor(t, "the back-again line", func() bool { return logs.count(slog.LevelInfo) == 1 })
	if w := logs.count(slog.LevelWarn); w != 1 {
		t.Fatalf("%d warnings, want 1", w)
	}
}

func TestNewNeedsClient(t *testing.T) {
	if _, err := heartbeat.New(heartbeat.Config{}); err == nil || !strings.Contains(err.Error(), "client") {
		t.Fatalf("New without a client: %v", err)
	}
}
