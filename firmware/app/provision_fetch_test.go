package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/provision"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
)

// publishFor puts bundle b for box on the real review service as the
// console's 发布 does: its blob, then the published row.
func publishFor(t *testing.T, srv *server.Server, dataDir, boxID string, version uint64, b []byte) {
	t.Helper()
	ctx := context.Background()
	blobs, err := blob.NewFiles(filepath.Join(dataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	key := "provision/bundles/test-" + hex.EncodeToString(sum[:8]) + ".cunbo"
	if err := blobs.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	pb := store.PublishedBundle{Version: version, BlobKey: key, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:]),
		Published: time.Now(), Actor: "trainer:test"}
	ae := store.AuditEntry{At: time.Now(), Actor: "trainer:test", Action: "bundle.publish", Subject: "test"}
	if err := srv.Store().PublishBundle(ctx, pb, []string{boxID}, ae); err != nil {
		t.Fatal(err)
	}
}

// A box built with a review service (as `cunbo run` builds it) takes the
// bundle the trainer published for it over the network once it is ready
// and idle, and restarts to use it; a box trusting no root yet asks for
// nothing, so the first root only ever comes from a stick.
func TestReviewServiceBundleIsFetchedAndApplied(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	srv, err := server.Open(ctx, server.Config{DataDir: dataDir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	review := httptest.NewServer(srv.Handler())
	t.Cleanup(review.Close)

	o := newTrainerOrg(t)
	stateDir, stick := t.TempDir(), t.TempDir()
	prov, _, _, err := app.OpenProvisioning(stateDir, provision.DirStick{Globs: []string{stick}}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	pub := prov.Key.Public().(ed25519.PublicKey)
	boxID, err := boxauth.Enroll(ctx, srv.Store(), pub, "雷山 阿秀", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Published before the box trusts anyone: not taken.
	publishFor(t, srv, dataDir, boxID, 2, o.bundleFor(t, pub, 2))
	prov.Stick = nil
	// Cancelled rather than timed out: Run is stopped as `cunbo run` stops it.
	runCtx, stop := context.WithCancel(ctx)
	time.AfterFunc(5*time.Second, stop)
	err = reviewBox(t, stateDir, review.URL, prov).Run(runCtx, nil)
	stop()
	prov.Stick = provision.DirStick{Globs: []string{stick}}
	if errors.Is(err, app.ErrRestart) {
		t.Fatalf("a box trusting no root took a bundle from the network")
	}
	if _, ok := prov.Store.Current(); ok {
		t.Fatal("a box trusting no root has a version")
	}

	// The first bundle by stick, the box restarting to use it: trust on
	// first use (here without a review service, so only the stick).
	o.putOnStick(t, stick, "1.cunbo", o.bundleFor(t, pub, 1))
	runCtx, stop = context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	if err := boxWith(t, stateDir, prov).Run(runCtx, nil); !errors.Is(err, app.ErrRestart) {
		t.Fatalf("Run with a bundle on the stick: %v, want ErrRestart", err)
	}

	// The next start, with the review service: version 1 comes up, then
	// the published version 2 comes over the network.
	p1, v, _, err := app.OpenProvisioning(stateDir, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if v.Number != 1 || !p1.Trial {
		t.Fatalf("after the stick: version %d trial %v, want 1 on trial", v.Number, p1.Trial)
	}
	if err := reviewBox(t, stateDir, review.URL, p1).Run(runCtx, nil); !errors.Is(err, app.ErrRestart) {
		t.Fatalf("Run: %v, want ErrRestart for the published bundle", err)
	}
	if v, ok := p1.Store.Current(); !ok || v.Number != 2 {
		t.Fatalf("current %+v %v, want version 2 from the review service", v, ok)
	}
	if out := p1.Store.Outcome(); out == nil || !out.OK {
		t.Fatalf("outcome %+v", out)
	}
}

func reviewBox(t *testing.T, stateDir, reviewURL string, prov *app.Provisioning) *app.App {
	t.Helper()
	prov.Interval, prov.FetchInterval = 100*time.Millisecond, 200*time.Millisecond
	prov.ReadyWithin = 60 * time.Second
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
		DemoCatalogue: true, StateDir: stateDir, DeviceID: "sim", ReviewURL: reviewURL,
		Panel: app.VirtualPanel(), HTTPAddr: "127.0.0.1:0", PIN: testPIN, Preview: whepLoopback(), Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Bundles == nil {
		t.Fatal("a box with a review service has no bundle client")
	}
	opts.Provision = prov
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A box run until a deadline (rather than cancelled) ends: every part
// ends with the deadline at once, more than Run's error channel held.
func TestRunEndsAtItsDeadline(t *testing.T) {
	stateDir := t.TempDir()
	prov, _, _, err := app.OpenProvisioning(stateDir, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	review := httptest.NewServer(srv.Handler())
	t.Cleanup(review.Close)
	// With a review service: the most parts.
	a := reviewBox(t, stateDir, review.URL, prov)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, nil) }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("Run did not end after its deadline")
	}
}
