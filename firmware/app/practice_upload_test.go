package app_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
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
		Pipeline: pipeline.Config{Video: video, Audio: audio, Portrait: true, VideoKbps: 800, Epoch: epoch,
			RecordDir: filepath.Join(stateDir, "record"), RecordQuota: 256 << 20},
		DemoCatalogue: true, StateDir: stateDir, ReviewURL: review.URL, DeviceID: "sim", FlaggedDir: filepath.Join(stateDir, "flagged"),
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
	// She presses 我说错了 while practising: the moment is flagged as on a
	// live, and must reach her social worker marked as a practice's.
	time.Sleep(2 * time.Second)
	if err := a.Box.Post(state.Mark, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(12 * time.Second)
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

	var marked []store.Segment
	waitUntil(t, 60*time.Second, "the practice's flagged moment at the review service", func() bool {
		marked, err = st.Segments(ctx, boxID)
		return err == nil && len(marked) > 0
	})
	for _, g := range marked {
		seg, err := segment.Parse(g.JSON)
		if err != nil {
			t.Fatal(err)
		}
		kind, err := st.SegmentKind(ctx, g.Ref())
		if err != nil || !seg.IsPractice() || kind != store.KindPractice {
			t.Errorf("segment %s (%s): kind %q in its JSON, %q stored (%v); want a practice's", g.ID, seg.Reason, seg.Kind, kind, err)
		}
		if seg.Reason == segment.ReasonMark && !slices.Contains(rec.Segments, g.ID) {
			t.Errorf("the mark %s is not among the practice's segments %v", g.ID, rec.Segments)
		}
	}
	if !slices.ContainsFunc(marked, func(g store.Segment) bool { return g.Reason == segment.ReasonMark }) {
		t.Errorf("no mark among the segments %+v", marked)
	}
}
