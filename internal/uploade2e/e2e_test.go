package uploade2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/wire"
	"github.com/cunbo/cunbo/segment"
)

type service struct {
	srv     *server.Server
	http    *httptest.Server
	dataDir string

	mu  sync.Mutex
	log []string // "METHOD Upload-Offset" of each upload request
	// hold, if set, runs before each upload request reaches the service.
	hold func(r *http.Request)
}

func (s *service) requests() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.log, "|")
}

func newService(t *testing.T) *service {
	t.Helper()
	dir := t.TempDir()
	srv, err := server.Open(context.Background(), server.Config{DataDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s := &service{srv: srv, dataDir: dir}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/uploads/") {
			s.mu.Lock()
			s.log = append(s.log, r.Method+" "+r.Header.Get("Upload-Offset"))
			hold := s.hold
			s.mu.Unlock()
			if hold != nil {
				hold(r)
			}
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(s.http.Close)
	return s
}

// box is a box's state directory with its key and flagged store.
type box struct {
	key   ed25519.PrivateKey
	id    string
	state string
	store *flagged.Store
}

func newBox(t *testing.T) *box {
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
	return &box{key: key, id: upload.BoxID(key.Public().(ed25519.PublicKey)), state: state, store: st}
}

func (s *service) enrol(t *testing.T, b *box) {
	t.Helper()
	id, err := boxauth.Enroll(context.Background(), s.srv.Store(), b.key.Public().(ed25519.PublicKey), "test box", "test", time.Now())
	if err != nil || id != b.id {
		t.Fatalf("enrol: %q, %v (box id %q)", id, err, b.id)
	}
}

// mp4 makes a real one-second MP4 with ffmpeg.
func mp4(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
		"-t", "1", "-c:v", "mpeg4", "-f", "mp4", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var t0 = time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)

func (b *box) segment(t *testing.T, clip []byte) flagged.Segment {
	t.Helper()
	return b.segmentAt(t, t0, clip)
}

func (b *box) segmentAt(t *testing.T, at time.Time, clip []byte) flagged.Segment {
	t.Helper()
	seg, err := b.store.Create(flagged.Segment{Reason: flagged.ReasonMark, Device: "box", At: at},
		func(path string) (*flagged.Clip, error) {
			return &flagged.Clip{Start: at.Add(-5 * time.Second), End: at.Add(5 * time.Second), Bytes: int64(len(clip))},
				os.WriteFile(path, clip, 0o644)
		})
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

func (b *box) run(t *testing.T, s *service, qdir string) *upload.Uploader {
	t.Helper()
	u, stop := b.start(t, s, qdir)
	t.Cleanup(stop)
	return u
}

// start runs an uploader until stop (a kill, as far as the service sees).
func (b *box) start(t *testing.T, s *service, qdir string) (*upload.Uploader, func()) {
	t.Helper()
	u, err := upload.New(upload.Config{URL: s.http.URL, Key: b.key, Dir: qdir, Source: b.store,
		Chunk: 32 << 10, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); u.Run(ctx) }()
	return u, func() { cancel(); <-done }
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *box) status(t *testing.T, id string) flagged.Status {
	s, err := b.store.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Status
}

// A segment reaches the service byte-exact (its segment.json as it was on
// the box, its clip bit for bit), and sending it again stores nothing new.
func TestSegmentArrivesByteExactAndOnce(t *testing.T) {
	s := newService(t)
	b := newBox(t)
	s.enrol(t, b)
	clip := mp4(t)
	seg := b.segment(t, clip)
	jsonBefore, err := os.ReadFile(filepath.Join(b.store.Dir(seg.ID), flagged.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	// A second box state with the same segment as it was before upload:
	// the same box sending the same segment twice (a reply lost).
	again := filepath.Join(t.TempDir(), "flagged")
	if out, err := exec.Command("cp", "-a", filepath.Join(b.state, "flagged"), again).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}

	u := b.run(t, s, filepath.Join(b.state, "upload"))
	if err := u.AddSession(segment.Session{Device: "box", Start: t0, End: t0.Add(time.Hour), Segments: []string{seg.ID}, Findings: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "segment uploaded", func() bool { return b.status(t, seg.ID) == flagged.StatusUploaded })
	waitFor(t, "session uploaded", func() bool { return u.Status().Pending == 0 })

	ctx := context.Background()
	row, err := s.srv.Store().Segment(ctx, b.id, seg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(row.JSON, jsonBefore) {
		t.Fatalf("stored segment.json differs from the box's:\n%s\n%s", row.JSON, jsonBefore)
	}
	blobs, err := blob.OpenURL(ctx, "", s.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := blobs.Open(ctx, row.ClipKey)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, clip) {
		t.Fatalf("stored clip is %d bytes and differs from the box's %d", len(got), len(clip))
	}
	// The hash the service keeps is the tar's, as the box built it.
	tarSum := sha256Tar(t, jsonBefore, clip)
	if row.SHA256 != tarSum {
		t.Fatalf("stored sha256 %s, want the box's tar %s", row.SHA256, tarSum)
	}

	st2, err := flagged.Open(flagged.Config{Dir: again})
	if err != nil {
		t.Fatal(err)
	}
	b2 := &box{key: b.key, id: b.id, state: filepath.Dir(again), store: st2}
	b2.run(t, s, filepath.Join(t.TempDir(), "upload"))
	waitFor(t, "the second send acknowledged", func() bool { return b2.status(t, seg.ID) == flagged.StatusUploaded })
	rows, err := s.srv.Store().Segments(ctx, b.id)
	if err != nil || len(rows) != 1 || !rows[0].Received.Equal(row.Received) {
		t.Fatalf("after a second send: %d rows (%v), want the first one only", len(rows), err)
	}

	// The session record is one the service reads.
	sessions := sessionIDs(t, filepath.Join(b.state, "upload"))
	if len(sessions) != 0 {
		t.Fatalf("session records still queued: %v", sessions)
	}
}

func sessionIDs(t *testing.T, qdir string) []string {
	ents, err := os.ReadDir(filepath.Join(qdir, upload.SessionDir))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	return ids
}

func sha256Tar(t *testing.T, js, clip []byte) string {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{flagged.JSONFile, js}, {flagged.ClipFile, clip}} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Size: int64(len(f.data)), Mode: 0o644,
			ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR})
		tw.Write(f.data)
	}
	tw.Close()
	if _, _, err := wire.ReadSegmentTar(bytes.NewReader(buf.Bytes()), nil); err != nil {
		t.Fatalf("the service does not read the tar: %v", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

// A session record arrives and the service reads it, extra counts and all.
func TestSessionRecord(t *testing.T) {
	s := newService(t)
	b := newBox(t)
	s.enrol(t, b)
	u := b.run(t, s, filepath.Join(b.state, "upload"))
	rec := segment.Session{ID: segment.NewSessionID(t0), Device: "box", Start: t0, End: t0.Add(40 * time.Minute), Findings: 3, Stalls: 1}
	if err := u.AddSession(rec); err != nil {
		t.Fatal(err)
	}
	var row struct{ Record []byte }
	waitFor(t, "session stored", func() bool {
		got, err := s.srv.Store().Session(context.Background(), b.id, rec.ID)
		row.Record = got.Record
		return err == nil
	})
	parsed, err := wire.ParseSession(row.Record)
	if err != nil || parsed.ID != rec.ID || !parsed.End.Equal(rec.End) {
		t.Fatalf("service reads %+v, %v", parsed, err)
	}
	var counts struct{ Findings, Stalls int }
	if err := json.Unmarshal(row.Record, &counts); err != nil || counts.Findings != 3 || counts.Stalls != 1 {
		t.Fatalf("counts %+v %v in %s", counts, err, row.Record)
	}
}

// A box the service does not know, or has revoked, sends nothing; its
// segments stay on the box and the phone page says why.
func TestUnknownOrRevokedBoxRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		enrol  bool
		revoke bool
	}{
		{"wrong key", false, false},
		{"revoked", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newService(t)
			b := newBox(t)
			if tc.enrol {
				s.enrol(t, b)
			}
			if tc.revoke {
				if err := boxauth.Revoke(context.Background(), s.srv.Store(), b.id, "test", time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			seg := b.segment(t, mp4(t))
			u := b.run(t, s, filepath.Join(b.state, "upload"))
			waitFor(t, "the refusal shown", func() bool { return u.Status().LastError != "" })
			st := u.Status()
			if !strings.Contains(st.Summary(), "培训老师") || st.Pending != 1 {
				t.Fatalf("status %+v %q", st, st.Summary())
			}
			if b.status(t, seg.ID) != flagged.StatusPending {
				t.Fatal("segment no longer pending")
			}
			if _, err := s.srv.Store().Segment(context.Background(), b.id, seg.ID); err == nil {
				t.Fatal("the service stored a segment from a box it refuses")
			}
		})
	}
}

// A box stopped mid-upload (kill -9, power cut) and started again resumes
// the same upload at the service from the service's offset.
func TestKilledMidUploadResumes(t *testing.T) {
	s := newService(t)
	b := newBox(t)
	s.enrol(t, b)
	// A clip of a few hundred KB: a real MP4 head, then padding.
	clip := append(mp4(t), make([]byte, 300<<10)...)
	seg := b.segment(t, clip)
	var patches atomic.Int32
	release := make(chan struct{})
	s.mu.Lock()
	s.hold = func(r *http.Request) {
		if r.Method == http.MethodPatch && patches.Add(1) == 4 {
			<-release
		}
	}
	s.mu.Unlock()
	qdir := filepath.Join(b.state, "upload")
	_, kill := b.start(t, s, qdir)
	waitFor(t, "three chunks sent", func() bool { return patches.Load() >= 4 })
	kill()
	close(release)
	if b.status(t, seg.ID) != flagged.StatusPending {
		t.Fatal("segment marked uploaded after a kill")
	}
	before := len(strings.Split(s.requests(), "|"))
	b.run(t, s, qdir)
	waitFor(t, "segment uploaded after the restart", func() bool { return b.status(t, seg.ID) == flagged.StatusUploaded })
	all := strings.Split(s.requests(), "|")
	after := strings.Join(all[before:], "|")
	if strings.Count(s.requests(), "POST ") != 1 || !strings.HasPrefix(after, "HEAD |PATCH ") || strings.HasPrefix(after, "HEAD |PATCH 0") {
		t.Fatalf("after the restart, want HEAD then PATCH from the service's offset on the same upload: %s", after)
	}
	row, err := s.srv.Store().Segment(context.Background(), b.id, seg.ID)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenURL(context.Background(), "", s.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := blobs.Open(context.Background(), row.ClipKey)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.ReadAll(r); !bytes.Equal(got, clip) {
		t.Fatal("the resumed clip differs from the box's")
	}
}
