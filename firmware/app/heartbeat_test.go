package app_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/heartbeat"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/overlay"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
)

// pcSys is a PC: nothing known about heat or throttling.
type pcSys struct{}

func (pcSys) Uptime() (time.Duration, bool)                { return time.Hour, true }
func (pcSys) TempC() (float64, bool)                       { return 0, false }
func (pcSys) Throttled(context.Context) (bool, bool, bool) { return false, false, false }
func (pcSys) Disk(string) (uint64, uint64, error)          { return 30 << 30, 60 << 30, nil }

// A box live on a real nginx-rtmp with the real review service: one
// heartbeat at start, none while live, one right after the live carrying
// its link (bitrate measured from the publisher, no stall).
func TestHeartbeatAroundALive(t *testing.T) {
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var beats atomic.Int64
	h := srv.Handler()
	review := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/"+heartbeat.Path {
			beats.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(review.Close)
	stateDir := t.TempDir()
	key, err := upload.LoadOrCreateKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	boxID, err := boxauth.Enroll(ctx, srv.Store(), key.Public().(ed25519.PublicKey), "雷山 阿秀", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hs, err := app.NewHeartbeat(review.URL, stateDir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	hs.Sys, hs.Interval = pcSys{}, time.Hour

	ngx := rtmptest.New(t)
	epoch := time.Now()
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(true), Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := overlay.DemoCatalog()
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	pl, err := pipeline.New(pipeline.Config{Video: video, Audio: audio, Portrait: true, Catalog: cat,
		RTMP: []string{ngx.URL("box")}, RTMPConfig: rtmp.Config{Logger: log}, VideoKbps: 1200, Epoch: epoch, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{Pipeline: pl, Panel: app.VirtualPanel(), Logger: log, Heartbeat: hs})
	if err != nil {
		t.Fatal(err)
	}
	runApp(t, a)
	stored := func() []map[string]any {
		hb, err := srv.Store().Heartbeats(ctx, boxID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, h := range hb {
			var m map[string]any
			if err := json.Unmarshal(h.Report, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
	waitUntil(t, 30*time.Second, "the heartbeat at start", func() bool { return len(stored()) == 1 })
	if first := stored()[0]; first["last_live"] != nil || first["temp_c"] != nil || first["disk_free_pct"] != 50.0 {
		t.Fatalf("first heartbeat %v", first)
	}

	if err := a.Box.Post(state.BigShort, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "live", func() bool { return a.Box.Status().State == state.Live })
	before := beats.Load()
	time.Sleep(12 * time.Second) // two bitrate samples or more
	if n := beats.Load() - before; n != 0 {
		t.Fatalf("%d heartbeats while live", n)
	}
	if err := a.Box.Post(state.BigLong, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "idle", func() bool { return a.Box.Status().State == state.Idle })
	waitUntil(t, 20*time.Second, "the heartbeat after the live", func() bool { return len(stored()) == 2 })
	ll, ok := stored()[0]["last_live"].(map[string]any)
	if !ok {
		t.Fatalf("heartbeat after the live without it: %v", stored()[0])
	}
	if kbps := ll["mean_kbps"].(float64); kbps < 200 || kbps > 5000 {
		t.Errorf("mean bitrate %v kbit/s for a 1200 kbit/s live", kbps)
	}
	if stall := ll["stall_pct"].(float64); stall != 0 {
		t.Errorf("stall %v %% on a local nginx", stall)
	}
}
