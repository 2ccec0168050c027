package weaklink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/wiretest"
)

// The box's uploader sends a queue of real segments to the review service
// through the emulated link: on 3g (768 kbit/s, 150 ms ± 30 ms, 3 % loss)
// and on a link that goes down 2 s in every 5 (flapping). Every segment
// arrives, byte-exact (SHA-256 of segment.json and of the clip equal on
// the server), stored once. Flapping must have cut the link at least twice
// while the queue was being sent, or the case proves nothing.
func TestUploadThroughWeakLink(t *testing.T) {
	for i, tc := range []struct {
		name     string
		profile  Profile
		segments int
		pad      int // bytes after the real MP4, to make the clip take time
		minDowns int
		limit    time.Duration
	}{
		{name: "3g", profile: Profile{Name: "3g", Initial: threeG}, segments: 3, pad: 200 << 10, limit: 4 * time.Minute},
		{name: "flapping", profile: Flapping(2*time.Second, 5*time.Second, 3*time.Minute), segments: 4, pad: 1 << 20,
			minDowns: 2, limit: 4 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			needRoot(t)
			n, err := SetupNet(50 + (os.Getpid()%40)*2 + i)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(n.Close)
			if err := n.Shape(tc.profile.Initial); err != nil {
				t.Fatal(err)
			}
			svc := startReviewIn(t, n)
			b := newUploadBox(t, svc)
			clip := append(wiretest.Clip(t), make([]byte, tc.pad)...)
			var segs []flagged.Segment
			sent := map[string][]byte{} // segment.json as it is before its upload
			for range tc.segments {
				seg := b.segment(t, clip)
				segs = append(segs, seg)
				js, err := os.ReadFile(filepath.Join(b.store.Dir(seg.ID), flagged.JSONFile))
				if err != nil {
					t.Fatal(err)
				}
				sent[seg.ID] = js
			}

			ctx, cancel := context.WithTimeout(context.Background(), tc.limit)
			defer cancel()
			t0 := time.Now()
			downs := make(chan int, 1)
			schedCtx, stopSched := context.WithCancel(ctx)
			go func() { downs <- playUntil(schedCtx, t, n, tc.profile, t0) }()
			u, err := upload.New(upload.Config{URL: svc.url, Key: b.key, Dir: filepath.Join(b.state, "upload"),
				Source: b.store, HTTPClient: &http.Client{Transport: &http.Transport{DialContext: Dialer(n.Box),
					ResponseHeaderTimeout: 2 * time.Minute}},
				Chunk: 256 << 10, MinBackoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			runDone := make(chan struct{})
			go func() { defer close(runDone); u.Run(ctx) }()
			defer func() { cancel(); <-runDone }()

			for _, s := range segs {
				for b.status(t, s.ID) != flagged.StatusUploaded {
					if ctx.Err() != nil {
						t.Fatalf("after %v not all %d segments uploaded (uploader %+v; service saw %s)",
							time.Since(t0).Round(time.Second), len(segs), u.Status(), svc.requests())
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			took := time.Since(t0)
			stopSched()
			nDowns := <-downs
			t.Logf("%d segments of %d KiB through %s in %v, link down %d times meanwhile; upload requests: %v",
				len(segs), len(clip)>>10, tc.name, took.Round(100*time.Millisecond), nDowns, svc.summary())
			if nDowns < tc.minDowns {
				t.Fatalf("the link went down %d times while uploading, want at least %d: the case did not exercise a flapping link", nDowns, tc.minDowns)
			}
			svc.checkStored(t, b, sent, clip)
		})
	}
}

// playUntil plays p's events on n from t0 until ctx ends, leaving the
// link up; it returns how many times the link went down.
func playUntil(ctx context.Context, t *testing.T, n *Net, p Profile, t0 time.Time) int {
	downs := 0
	defer func() {
		if err := n.SetLink(true); err != nil {
			t.Errorf("link up: %v", err)
		}
	}()
	for _, e := range p.Events {
		if !sleepUntil(ctx, t0.Add(e.At)) {
			return downs
		}
		var err error
		switch {
		case e.Shape != nil:
			err = n.Shape(*e.Shape)
		case e.Down:
			err = n.SetLink(false)
			downs++
		case e.Up:
			err = n.SetLink(true)
		}
		if err != nil {
			t.Errorf("link event %+v: %v", e, err)
			return downs
		}
	}
	return downs
}

// reviewService is the real review service (embedded default: SQLite and
// files) listening in the receivers' namespace.
type reviewService struct {
	srv     *server.Server
	url     string
	dataDir string

	mu  sync.Mutex
	log []string // "METHOD Upload-Offset" of each upload request
}

func startReviewIn(t *testing.T, n *Net) *reviewService {
	t.Helper()
	dir := t.TempDir()
	srv, err := server.Open(context.Background(), server.Config{DataDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var ln net.Listener
	if err := Do(n.Rx, func() error {
		var err error
		ln, err = net.Listen("tcp4", net.JoinHostPort(n.RxIP, "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s := &reviewService{srv: srv, url: "http://" + ln.Addr().String(), dataDir: dir}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/uploads/") {
			s.mu.Lock()
			s.log = append(s.log, r.Method+" "+r.Header.Get("Upload-Offset"))
			s.mu.Unlock()
		}
		srv.Handler().ServeHTTP(w, r)
	})}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("review service: %v", err)
		}
	})
	return s
}

func (s *reviewService) requests() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.log, "|")
}

// summary counts upload requests by method.
func (s *reviewService) summary() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for _, l := range s.log {
		method, _, _ := strings.Cut(l, " ")
		m[method]++
	}
	return m
}

// checkStored: each segment stored once, its segment.json and clip with
// the SHA-256 they have on the box.
func (s *reviewService) checkStored(t *testing.T, b *uploadBox, sent map[string][]byte, clip []byte) {
	t.Helper()
	ctx := context.Background()
	blobs, err := blob.OpenURL(ctx, "", s.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.srv.Store().Segments(ctx, b.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(sent) {
		t.Fatalf("the service holds %d segments of the box, want %d", len(rows), len(sent))
	}
	wantClip := sha256.Sum256(clip)
	for id, js := range sent {
		row, err := s.srv.Store().Segment(ctx, b.id, id)
		if err != nil {
			t.Fatalf("segment %s: %v", id, err)
		}
		if sha256.Sum256(row.JSON) != sha256.Sum256(js) {
			t.Errorf("segment %s: stored segment.json differs from the box's:\n%s\n%s", id, row.JSON, js)
		}
		r, err := blobs.Open(ctx, row.ClipKey)
		if err != nil {
			t.Fatalf("segment %s clip: %v", id, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Sum(nil); !bytes.Equal(got, wantClip[:]) {
			t.Errorf("segment %s: stored clip SHA-256 %x, the box's %x", id, got, wantClip)
		}
	}
}

// uploadBox is a box's state directory: its key and flagged store.
type uploadBox struct {
	key   ed25519.PrivateKey
	id    string
	state string
	store *flagged.Store
}

func newUploadBox(t *testing.T, s *reviewService) *uploadBox {
	t.Helper()
	state := t.TempDir()
	key, err := upload.LoadOrCreateKey(state)
	if err != nil {
		t.Fatal(err)
	}
	st, err := flagged.Open(flagged.Config{Dir: filepath.Join(state, "flagged")})
	if err != nil {
		t.Fatal(err)
	}
	b := &uploadBox{key: key, id: upload.BoxID(key.Public().(ed25519.PublicKey)), state: state, store: st}
	id, err := boxauth.Enroll(context.Background(), s.srv.Store(), key.Public().(ed25519.PublicKey), "weak-link box", "test", time.Now())
	if err != nil || id != b.id {
		t.Fatalf("enrol: %q, %v (box id %q)", id, err, b.id)
	}
	return b
}

func (b *uploadBox) segment(t *testing.T, clip []byte) flagged.Segment {
	t.Helper()
	at := time.Now()
	seg, err := b.store.Create(flagged.Segment{Reason: flagged.ReasonMark, Device: "box", At: at},
		func(path string) (*flagged.Clip, error) {
			return &flagged.Clip{Start: at.Add(-5 * time.Second), End: at.Add(2 * time.Second), Bytes: int64(len(clip))},
				os.WriteFile(path, clip, 0o644)
		})
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

func (b *uploadBox) status(t *testing.T, id string) flagged.Status {
	t.Helper()
	s, err := b.store.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Status
}

// TestQueuedUploadPausedWhileLive: a box with 20 MB of segments queued and
// an upload in flight goes live on a compressed step-down: the uploader is
// cut off as the live begins, and the review service receives no more
// than what was already on its way (the defect would be the queue taking
// its share of the 1 Mbit/s step for the whole live: megabytes). The
// stall is logged next to the plain run's figure in TestShortStepDown;
// the bench (SystemCunboUpload) compares them over several runs.
func TestQueuedUploadPausedWhileLive(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	clip, err := MakeClip(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(ctx, StepDown(10*time.Second, 25*time.Second, 40*time.Second), SystemCunboUpload,
		Options{Dir: dir, Clip: clip, NetID: 100 + os.Getpid()%50})
	if err != nil {
		t.Fatal(err)
	}
	if r.Upload == nil {
		t.Fatal("no upload figures")
	}
	t.Logf("stall %.2f s (step %v), whip stall %.2f s; upload: %+v", r.StallS, deref(r.StepStallS), r.Receivers["whip"].StallS, *r.Upload)
	if r.Upload.BeforeLiveKB <= 0 {
		t.Fatal("no upload was in flight when the live began: the case proves nothing")
	}
	if r.Upload.WhileLiveKB > maxWhileLiveKB {
		t.Errorf("the review service received %.0f KB while live, want at most %d KB (what was on its way when the live began)", r.Upload.WhileLiveKB, maxWhileLiveKB)
	}
	if w := r.Receivers["whip"]; w.StallS > 8 {
		t.Errorf("WHIP receiver stalled %.2f s", w.StallS)
	}
}

// maxWhileLiveKB bounds the upload bytes a live may carry: the tail of the
// PATCH cut off when it began (already in the socket and the shaped
// queue), not a chunk more.
const maxWhileLiveKB = 1024
