package upload

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/internal/sharedtest"
)

// The review service killed with SIGKILL in the middle of a PATCH, then
// started again on the same data: the box's uploader asks the restarted
// service how much it has (HEAD) and sends only the rest on the same
// upload, never from zero; the segment stored is the box's, byte for byte.
// The service is the real cunbo-review binary (embedded default: SQLite
// and files), run as a child so it can be killed as a crash would; a
// proxy in front of it keeps one address for the box across the restart
// and records what each request carried.
func TestServiceKilledMidUploadResumes(t *testing.T) {
	bin := buildReview(t)
	data := t.TempDir()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	if out, err := exec.Command(bin, "box", "add", "--data", data, "--key-hex", hex.EncodeToString(pub), "--name", "kill test").CombinedOutput(); err != nil {
		t.Fatalf("box add: %v\n%s", err, out)
	}
	st, err := flagged.Open(flagged.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// A real MP4 head, then 2 MiB: eight chunks of 256 KiB.
	clip := append(realMP4(t), make([]byte, 2<<20)...)
	for i := range clip[len(clip)-(2<<20):] {
		clip[len(clip)-(2<<20)+i] = byte(i * 7)
	}
	seg, err := st.Create(flagged.Segment{Reason: flagged.ReasonMark, Device: "box", At: t0},
		func(path string) (*flagged.Clip, error) {
			return &flagged.Clip{Start: t0.Add(-5 * time.Second), End: t0.Add(2 * time.Second), Bytes: int64(len(clip))},
				os.WriteFile(path, clip, 0o644)
		})
	if err != nil {
		t.Fatal(err)
	}

	const chunk = 256 << 10
	// The kill comes half way through the fifth chunk: four are
	// acknowledged, part of the fifth is on the service's disk.
	const killAt = 4*chunk + chunk/2
	p := newKillProxy(t, killAt)
	first := startReview(t, bin, data)
	p.setTarget(first.addr)

	u, err := New(Config{URL: p.url, Key: key, Dir: t.TempDir(), Source: st, Logger: testLogger(t),
		Chunk: chunk, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sharedtest.Run(t, "uploader", 10*time.Second, sharedtest.CanceledIsClean(func(ctx context.Context) error { u.Run(ctx); return ctx.Err() }))

	select {
	case <-p.reached:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the upload never reached byte %d; requests: %v", killAt, p.requests())
	}
	first.kill(t)
	// Only now does the held PATCH end (its connection to a dead process).
	close(p.release)
	if s, _ := st.Get(seg.ID); s.Status != flagged.StatusPending {
		t.Fatalf("segment %s after the service died mid-upload", s.Status)
	}
	beforeRestart := len(p.requests())
	second := startReview(t, bin, data)
	p.setTarget(second.addr)

	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := st.Get(seg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == flagged.StatusUploaded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not uploaded 2 min after the restart; requests: %v", p.requests())
		}
		time.Sleep(50 * time.Millisecond)
	}

	reqs := p.requests()
	t.Logf("requests: %v", reqs)
	var posts int
	for _, r := range reqs {
		if r.method == http.MethodPost {
			posts++
		}
	}
	if posts != 1 {
		t.Fatalf("%d uploads created, want the one begun before the kill resumed", posts)
	}
	// After the restart: the box's first request the service answered
	// is a HEAD; the offset it gives holds at least the four acknowledged
	// chunks; the next PATCH starts there.
	var head, next *proxied
	for i := beforeRestart; i < len(reqs); i++ {
		r := &reqs[i]
		if r.status == http.StatusBadGateway {
			continue // the service was not back yet
		}
		if head == nil {
			if r.method != http.MethodHead {
				t.Fatalf("first request answered after the restart: %s, want HEAD", r)
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
		t.Fatalf("the restarted service has %d bytes, want between the 4 acknowledged chunks (%d) and the kill (%d)", head.gotOffset, 4*chunk, killAt)
	}
	if next.method != http.MethodPatch || next.offset != head.gotOffset {
		t.Fatalf("after HEAD (offset %d) the box sent %s, want a PATCH from that offset", head.gotOffset, next)
	}
	// What reached the restarted service is exactly the rest of the body.
	var sentAfter int64
	for _, r := range reqs[beforeRestart:] {
		if r.status != http.StatusBadGateway {
			sentAfter += r.bodyBytes
		}
	}
	if length := reqs[0].length; sentAfter != length-head.gotOffset {
		t.Fatalf("%d bytes sent to the restarted service, want the %d after its offset %d (of %d)", sentAfter, length-head.gotOffset, head.gotOffset, length)
	}

	// The clip the service stored is the box's.
	var stored []string
	filepath.WalkDir(filepath.Join(data, "blobs"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == flagged.ClipFile {
			stored = append(stored, path)
		}
		return nil
	})
	if len(stored) != 1 {
		t.Fatalf("clips stored: %v, want one", stored)
	}
	got, err := os.ReadFile(stored[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, clip) {
		t.Fatalf("stored clip (%d bytes) differs from the box's (%d)", len(got), len(clip))
	}
}

// buildReview builds cmd/cunbo-review (firmware/upload must not import
// the service's packages, so the test runs its binary).
func buildReview(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cunbo-review")
	cmd := exec.Command("go", "build", "-tags", "ne", "-o", bin, "./cmd/cunbo-review")
	cmd.Dir = sharedtest.ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build cunbo-review: %v\n%s", err, out)
	}
	return bin
}

// realMP4 is a one-second MP4 made by ffmpeg (the service checks the
// clip's ftyp box).
func realMP4(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
		"-t", "1", "-c:v", "mpeg4", "-f", "mp4", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type reviewProc struct {
	addr string
	cmd  *exec.Cmd
	done chan error
	out  *bytes.Buffer
}

// startReview runs `cunbo-review serve` on data and waits for /healthz.
func startReview(t *testing.T, bin, data string) *reviewProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &reviewProc{addr: addr, cmd: exec.Command(bin, "serve", "--data", data, "--listen", addr), done: make(chan error, 1), out: &bytes.Buffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("serve exited: %v\n%s", err, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not up in a minute:\n%s", p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill is kill -9: no graceful shutdown, nothing flushed.
func (p *reviewProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// proxied is one upload request as the proxy passed it on.
type proxied struct {
	method    string
	offset    int64 // Upload-Offset sent (PATCH)
	length    int64 // Upload-Length sent (POST)
	status    int
	gotOffset int64 // Upload-Offset answered (HEAD)
	bodyBytes int64 // bytes of body passed on
}

func (r proxied) String() string {
	return r.method + " " + strconv.FormatInt(r.offset, 10) + " → " + strconv.Itoa(r.status) + " " + strconv.FormatInt(r.gotOffset, 10) +
		" (" + strconv.FormatInt(r.bodyBytes, 10) + " B)"
}

// killProxy forwards to the current service and, once killAt bytes of
// PATCH bodies have gone through, holds the PATCH in flight (reached) until
// release, then cuts it.
type killProxy struct {
	url     string
	killAt  int64
	reached chan struct{}
	release chan struct{}

	mu      sync.Mutex
	target  *url.URL
	log     []proxied
	patched int64
}

func newKillProxy(t *testing.T, killAt int64) *killProxy {
	p := &killProxy{killAt: killAt, reached: make(chan struct{}), release: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			p.mu.Lock()
			r.SetURL(p.target)
			p.mu.Unlock()
			r.Out.Host = r.In.Host
		},
		ErrorLog: log.New(io.Discard, "", 0), // a dead service is the point
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/uploads/") {
			rp.ServeHTTP(w, r)
			return
		}
		rec := proxied{method: r.Method}
		rec.offset, _ = strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
		rec.length, _ = strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
		cb := &countingBody{r: r.Body, p: p, patch: r.Method == http.MethodPatch}
		r.Body = cb
		sw := &statusWriter{ResponseWriter: w}
		rp.ServeHTTP(sw, r)
		rec.status = sw.status
		rec.gotOffset, _ = strconv.ParseInt(sw.Header().Get("Upload-Offset"), 10, 64)
		rec.bodyBytes = cb.n
		p.mu.Lock()
		p.log = append(p.log, rec)
		p.mu.Unlock()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p.url = "http://" + ln.Addr().String()
	return p
}

func (p *killProxy) setTarget(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = &url.URL{Scheme: "http", Host: addr}
}

func (p *killProxy) requests() []proxied {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]proxied(nil), p.log...)
}

var errCut = errors.New("connection cut by the test")

// countingBody counts what passes and, for PATCHes, stops at the proxy's
// killAt until release.
type countingBody struct {
	r     io.ReadCloser
	p     *killProxy
	patch bool
	n     int64
}

func (b *countingBody) Read(buf []byte) (int, error) {
	if !b.patch {
		n, err := b.r.Read(buf)
		b.n += int64(n)
		return n, err
	}
	b.p.mu.Lock()
	room := b.p.killAt - b.p.patched
	held := room == 0 && !isClosed(b.p.reached)
	if held {
		close(b.p.reached)
	}
	b.p.mu.Unlock()
	if held {
		<-b.p.release
		return 0, errCut
	}
	if room > 0 && int64(len(buf)) > room {
		buf = buf[:room]
	}
	n, err := b.r.Read(buf)
	b.n += int64(n)
	b.p.mu.Lock()
	b.p.patched += int64(n)
	b.p.mu.Unlock()
	return n, err
}

func (b *countingBody) Close() error { return b.r.Close() }

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
