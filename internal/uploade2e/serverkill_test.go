package uploade2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/pgtest"
	"github.com/cunbo/cunbo/review/s3test"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
)

// serveEnv, when set, makes the test binary the review server of
// TestServiceKilledMidUploadResumesPostgresS3 (listen address; the rest
// of its configuration in the variables below), so the test can kill it
// with SIGKILL as a crash would.
const (
	serveEnv     = "UPLOADE2E_SERVE"
	serveDataEnv = "UPLOADE2E_DATA"
	serveDBEnv   = "UPLOADE2E_DB"
	serveBlobEnv = "UPLOADE2E_BLOBS"
)

// A review server with PostgreSQL and S3 (uploads in progress in the
// bucket, pglock) is killed with SIGKILL in the middle of a PATCH and
// started again; the box's uploader asks it how much it has (HEAD) and
// sends the rest on the same upload, never from zero. The stored clip is
// the box's, byte for byte.
func TestServiceKilledMidUploadResumesPostgresS3(t *testing.T) {
	if addr := os.Getenv(serveEnv); addr != "" {
		serveForKill(addr)
		return
	}
	pg := pgtest.Start(t)
	dbURL := pg.NewURL(t)
	s3 := s3test.Start(t, "clips")
	data := t.TempDir()
	ctx := context.Background()

	b := newBox(t)
	st, err := store.Open(ctx, dbURL, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := boxauth.Enroll(ctx, st, b.key.Public().(ed25519.PublicKey), "kill test", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	clip := append(mp4(t), bytes.Repeat([]byte{0x5a}, 2<<20)...) // 2 MiB after the MP4
	seg := b.segment(t, clip)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestServiceKilledMidUploadResumesPostgresS3$")
		cmd.Env = append(os.Environ(), serveEnv+"="+addr, serveDataEnv+"="+data, serveDBEnv+"="+dbURL, serveBlobEnv+"="+s3.Spec("clips"))
		cmd.Stdout, cmd.Stderr = tWriter{t}, tWriter{t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		waitFor(t, "the review server up", func() bool {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		})
		return cmd
	}
	first := start()

	const chunk = 256 << 10
	const killAt = 4*chunk + chunk/2 // half way through the fifth chunk
	rt := &killTransport{base: http.DefaultTransport, killAt: killAt, reached: make(chan struct{}), release: make(chan struct{})}
	u, err := upload.New(upload.Config{URL: "http://" + addr, Key: b.key, Dir: filepath.Join(b.state, "upload"), Source: b.store,
		HTTPClient: &http.Client{Transport: rt}, Chunk: chunk, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); u.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	select {
	case <-rt.reached:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the upload never reached byte %d: %v", killAt, rt.requests())
	}
	first.Process.Kill() // SIGKILL
	first.Wait()
	close(rt.release)
	if b.status(t, seg.ID) != flagged.StatusPending {
		t.Fatal("segment marked uploaded after the service died")
	}
	beforeRestart := len(rt.requests())
	start()
	waitFor(t, "the segment uploaded after the restart", func() bool { return b.status(t, seg.ID) == flagged.StatusUploaded })

	reqs := rt.requests()
	t.Logf("requests: %v", reqs)
	posts := 0
	for _, r := range reqs {
		if r.method == http.MethodPost {
			posts++
		}
	}
	if posts != 1 {
		t.Fatalf("%d uploads created, want the one begun before the kill resumed", posts)
	}
	var head, next *sent
	for i := beforeRestart; i < len(reqs); i++ {
		r := &reqs[i]
		if r.err != nil {
			continue // the server was not back yet
		}
		if head == nil {
			if r.method != http.MethodHead {
				t.Fatalf("first request answered after the restart: %v, want HEAD", *r)
			}
			head = r
			continue
		}
		next = r
		break
	}
	if head == nil || next == nil {
		t.Fatalf("no HEAD then PATCH after the restart: %v", reqs[beforeRestart:])
	}
	if head.gotOffset < 4*chunk || head.gotOffset > killAt {
		t.Fatalf("the restarted service has %d bytes, want the 4 acknowledged chunks (%d) up to the kill (%d)", head.gotOffset, 4*chunk, killAt)
	}
	if next.method != http.MethodPatch || next.offset != head.gotOffset {
		t.Fatalf("after HEAD (offset %d) the box sent %v, want a PATCH from there", head.gotOffset, *next)
	}

	st, err = store.Open(ctx, dbURL, data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	row, err := st.Segment(ctx, b.id, seg.ID)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := blob.OpenURL(ctx, s3.Spec("clips"), data)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bs.Open(ctx, row.ClipKey)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.ReadAll(r); !bytes.Equal(got, clip) {
		t.Fatalf("stored clip (%d bytes) differs from the box's (%d)", len(got), len(clip))
	}
}

// serveForKill is the child: a review server until it is killed.
func serveForKill(addr string) {
	srv, err := server.Open(context.Background(), server.Config{DataDir: os.Getenv(serveDataEnv), DB: os.Getenv(serveDBEnv),
		Blobs: os.Getenv(serveBlobEnv), Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, srv.Handler()))
	os.Exit(1)
}

// sent is one upload request as the box's client saw it.
type sent struct {
	method    string
	offset    int64 // Upload-Offset sent
	status    int
	gotOffset int64 // Upload-Offset answered
	err       error
}

func (s sent) String() string {
	return fmt.Sprintf("%s %d → %d %d %v", s.method, s.offset, s.status, s.gotOffset, s.err)
}

// killTransport records the box's upload requests and holds the PATCH
// that crosses killAt bytes of bodies (reached) until release, then cuts
// it.
type killTransport struct {
	base    http.RoundTripper
	killAt  int64
	reached chan struct{}
	release chan struct{}

	mu     sync.Mutex
	log    []sent
	body   int64
	closed bool
}

func (k *killTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s := sent{method: r.Method}
	s.offset, _ = strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if r.Method == http.MethodPatch && r.Body != nil {
		r.Body = &holdBody{r: r.Body, k: k}
	}
	resp, err := k.base.RoundTrip(r)
	if err != nil {
		s.err = err
	} else {
		s.status = resp.StatusCode
		s.gotOffset, _ = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	}
	if r.URL.Path != "/api/box/challenge" && r.URL.Path != "/api/box/token" {
		k.mu.Lock()
		k.log = append(k.log, s)
		k.mu.Unlock()
	}
	return resp, err
}

func (k *killTransport) requests() []sent {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]sent(nil), k.log...)
}

var errCutByTest = errors.New("cut by the test")

type holdBody struct {
	r io.ReadCloser
	k *killTransport
}

func (h *holdBody) Read(p []byte) (int, error) {
	k := h.k
	k.mu.Lock()
	room := k.killAt - k.body
	hold := room == 0 && !k.closed
	if hold {
		k.closed = true
		close(k.reached)
	}
	k.mu.Unlock()
	if hold {
		<-k.release
		return 0, errCutByTest
	}
	if room > 0 && int64(len(p)) > room {
		p = p[:room]
	}
	n, err := h.r.Read(p)
	k.mu.Lock()
	k.body += int64(n)
	k.mu.Unlock()
	return n, err
}

func (h *holdBody) Close() error { return h.r.Close() }
