package app_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/segment"
)

// A practice's session record reaches the real review service as a live's
// does, with its kind and check results: the box built as `cunbo sim
// --review --practice` builds it, the scripted answer standing in for her
// voice.
func TestPracticeSessionReachesTheReviewService(t *testing.T) {
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	review := httptest.NewServer(srv.Handler())
	t.Cleanup(review.Close)
	st := srv.Store()
	stateDir := t.TempDir()
	key, err := upload.LoadOrCreateKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	boxID, err := boxauth.Enroll(ctx, st, key.Public().(ed25519.PublicKey), "榕江 阿英", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}

	epoch := time.Now()
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(true), Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := app.Build(app.Spec{
		Pipeline:      pipeline.Config{Video: video, Audio: audio, Portrait: true, VideoKbps: 800, Epoch: epoch},
		DemoCatalogue: true, StateDir: stateDir, ReviewURL: review.URL, DeviceID: "sim",
		Panel: app.VirtualPanel(), HTTPAddr: "127.0.0.1:0", PIN: testPIN, Preview: whepLoopback(), Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.PracticeScript = true
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	runApp(t, a)
	if err := a.Box.Post(state.PracticeStart, ""); err != nil {
		t.Fatal(err)
	}
	// 阿英 asks 5 s in; the scripted answer ends 3 + 4 s later.
	waitUntil(t, 20*time.Second, "the practice", func() bool { return a.Box.Status().State == state.Practice })
	time.Sleep(14 * time.Second)
	if err := a.Box.Post(state.BigLong, ""); err != nil {
		t.Fatal(err)
	}
	var rec *segment.Session
	waitUntil(t, 60*time.Second, "the practice's session record at the review service", func() bool {
		ss, err := st.BoxSessions(ctx, boxID, 10)
		if err != nil || len(ss) == 0 {
			return false
		}
		rec, err = segment.ParseSession(ss[0].Record)
		return err == nil
	})
	if rec.Kind != segment.KindPractice || rec.Checks == nil {
		t.Fatalf("record kind %q checks %v, want a practice with checks", rec.Kind, rec.Checks)
	}
	c := rec.Checks
	if c.Scenario == "" || len(c.Skipped) != 0 || len(c.Products) == 0 || c.Products[0].ID != "lajiao" {
		t.Errorf("checks %+v", c)
	}
	var answered bool
	for _, q := range c.Questions {
		if q.From == "阿英" {
			answered = q.Asked && q.Answered && q.RightCard && q.AnswerAt >= q.At
		}
	}
	if !answered {
		t.Errorf("阿英's question not answered in %+v", c.Questions)
	}
}
