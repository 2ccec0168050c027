package uploade2e

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/config"
	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/internal/sharedtest"
)

// The box as `cunbo run` builds it from its config: the key printed for
// enrolment (--print-key) is the one it signs in with, and a segment in
// its flagged store reaches the service while it is idle.
func TestFromConfigUploads(t *testing.T) {
	s := newService(t)
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DeviceID, cfg.PIN = "desk-3", "381957"
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Catalogue = ""
	cfg.RulePack = filepath.Join(dir, "no-rules")
	cfg.Speech.ModelDir = filepath.Join(dir, "models")
	cfg.Video.Source, cfg.Audio.Source = "test", "test"
	cfg.Record.Dir = filepath.Join(dir, "record")
	cfg.Record.QuotaMB = 256
	cfg.Review.URL = s.http.URL

	// What `cunbo run --print-key` does before the trainer enrols the box.
	key, err := upload.LoadOrCreateKey(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	b := &box{key: key, id: upload.BoxID(key.Public().(ed25519.PublicKey)), state: cfg.StateDir}
	s.enrol(t, b)

	opts, err := app.FromConfig(&cfg, app.BuildOptions{VirtualPanel: true, HTTPAddr: "127.0.0.1:0", Logger: slogFor(t)})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Uploader == nil || opts.Uploader.BoxID() != b.id {
		t.Fatalf("uploader %v, want one signing in as %s", opts.Uploader, b.id)
	}
	st := opts.Compliance.Loop().Store()
	if st == nil {
		t.Fatal("no flagged store")
	}
	b.store = st
	clip := mp4(t)
	seg := b.segmentAt(t, time.Now(), clip)
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sharedtest.Run(t, "app.Run", 30*time.Second, func(ctx context.Context) error { return a.Run(ctx, nil) })
	waitFor(t, "the segment uploaded", func() bool { return b.status(t, seg.ID) == flagged.StatusUploaded })
	if _, err := s.srv.Store().Segment(context.Background(), b.id, seg.ID); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(cfg.StateDir, upload.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", fi, err)
	}
}
