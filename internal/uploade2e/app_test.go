package uploade2e

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/sharedtest"
	"github.com/cunbo/cunbo/overlay"
	"github.com/cunbo/cunbo/review/wire"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/cunbo/cunbo/stream/whep"
)

// A whole box (test pattern, tone, real nginx-rtmp ingest) with the
// uploader wired as `cunbo run` wires it: idle, it uploads; from the big
// button until the stream has ended it sends nothing and the phone page
// says so; at the end the session record and the segment flagged on air
// reach the service.
func TestBoxUploadsOnlyOffAir(t *testing.T) {
	s := newService(t)
	b := newBox(t)
	s.enrol(t, b)
	clip := mp4(t)
	before := b.segment(t, clip)

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
	log := slogFor(t)
	pl, err := pipeline.New(pipeline.Config{Video: video, Audio: audio, Portrait: true, Catalog: cat,
		RTMP: []string{ngx.URL("box")}, VideoKbps: 800, Epoch: epoch, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	u, err := upload.New(upload.Config{URL: s.http.URL, Key: b.key, Dir: filepath.Join(b.state, "upload"),
		Source: b.store, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{Pipeline: pl, Panel: app.VirtualPanel(), HTTPAddr: "127.0.0.1:0", PIN: "246813",
		Preview: whep.Config{IncludeLoopback: true}, Uploader: u, DeviceID: "box-e2e", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sharedtest.Run(t, "app.Run", 30*time.Second, func(ctx context.Context) error { return a.Run(ctx, nil) })

	waitFor(t, "the segment flagged before going live uploaded while idle", func() bool {
		return b.status(t, before.ID) == flagged.StatusUploaded
	})
	if note := a.Web.Status().UploadNote; note != "" {
		t.Fatalf("upload note %q with nothing waiting", note)
	}

	liveAt := time.Now()
	a.Box.Post(state.BigShort, "")
	waitFor(t, "live", func() bool { return a.Box.Status().State == state.Live })
	sent := len(splitReqs(s.requests()))
	onAir := b.segmentAt(t, time.Now(), clip) // flagged while live
	u.Notify()
	time.Sleep(2 * time.Second)
	if b.status(t, onAir.ID) != flagged.StatusPending || len(splitReqs(s.requests())) != sent {
		t.Fatalf("uploads while live: %v", splitReqs(s.requests())[sent:])
	}
	if note := a.Web.Status().UploadNote; note != "有 1 段等上传（下播后再传）" {
		t.Fatalf("phone page while live says %q", note)
	}
	a.Box.Post(state.BigLong, "")
	waitFor(t, "idle", func() bool { return a.Box.Status().State == state.Idle })
	endAt := time.Now()
	waitFor(t, "the on-air segment and the session record uploaded", func() bool {
		return b.status(t, onAir.ID) == flagged.StatusUploaded && u.Status().Pending == 0
	})
	rows, err := s.srv.Store().Segments(context.Background(), b.id)
	if err != nil || len(rows) != 2 {
		t.Fatalf("service has %d segments (%v), want 2", len(rows), err)
	}
	if note := a.Web.Status().UploadNote; note != "" {
		t.Fatalf("upload note %q after everything was sent", note)
	}
	sessions := sessionsAt(t, s, b)
	if len(sessions) != 1 {
		t.Fatalf("%d session records, want 1", len(sessions))
	}
	rec := sessions[0]
	if rec.Device != "box-e2e" || rec.Start.Before(liveAt.Add(-time.Second)) || rec.End.After(endAt.Add(time.Second)) ||
		!slices.Contains(rec.Segments, onAir.ID) || slices.Contains(rec.Segments, before.ID) {
		t.Fatalf("session record %+v (live %v..%v, on-air segment %s)", rec, liveAt, endAt, onAir.ID)
	}
}

// sessionsAt reads the session records the service stored for b, through
// the ids in its audit log.
func sessionsAt(t *testing.T, s *service, b *box) []wire.Session {
	t.Helper()
	entries, err := s.srv.Store().Audit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []wire.Session
	for _, e := range entries {
		if e.Action != "session.received" {
			continue
		}
		row, err := s.srv.Store().Session(context.Background(), b.id, e.Subject)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := wire.ParseSession(row.Record)
		if err != nil {
			t.Fatalf("stored session record %s: %v", row.Record, err)
		}
		t.Logf("session record: %s", row.Record)
		out = append(out, *rec)
	}
	return out
}

func splitReqs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "|")
}

func slogFor(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, nil))
	}
	return slog.New(slog.DiscardHandler)
}
