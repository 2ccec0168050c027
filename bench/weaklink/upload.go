package weaklink

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
)

// SystemCunboUpload is cunbo with QueuedMB of flagged segments waiting for
// the review service when the live begins: the uploader is wired as the
// box wires it (paused while live), has one upload in flight when the
// stream starts, and the review service listens in the receivers'
// namespace behind the same shaped link. Compared with "cunbo" on the same
// profile, it shows whether a queued upload raises the stream's stall.
const SystemCunboUpload = "cunbo+upload"

// QueuedMB is how much the "cunbo+upload" box has queued (the 20
// MB), in segments of segmentMB.
const (
	QueuedMB  = 20
	segmentMB = 2
)

// UploadResult is what the queued upload did around the live.
type UploadResult struct {
	QueuedMB float64 `json:"queued_mb"`
	// Bytes of upload bodies the service received before the live began
	// (the upload in flight then) and while it lasted.
	BeforeLiveKB float64 `json:"before_live_kb"`
	WhileLiveKB  float64 `json:"while_live_kb"`
}

// QueuedUpload is a review service (embedded default) in the receivers'
// namespace and a box uploader with segments queued for it.
type QueuedUpload struct {
	srv    *server.Server
	hs     *http.Server
	served chan error
	up     *upload.Uploader
	cancel context.CancelFunc
	done   chan struct{}

	received atomic.Int64 // upload body bytes the service has read

	mu     sync.Mutex
	atLive int64
	live   bool
}

// StartQueuedUpload queues mb MB of segments on a box under dir, enrols it
// with a review service in n.Rx and starts its uploader; it returns once
// the first bytes have reached the service (an upload in flight).
func StartQueuedUpload(n *Net, dir string, mb int, log *slog.Logger) (*QueuedUpload, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &QueuedUpload{served: make(chan error, 1), done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			q.Stop()
		}
	}()
	var err error
	q.srv, err = server.Open(context.Background(), server.Config{DataDir: filepath.Join(dir, "review"), Log: log})
	if err != nil {
		return nil, fmt.Errorf("weaklink: review service: %w", err)
	}
	var ln net.Listener
	if err := Do(n.Rx, func() error {
		var err error
		ln, err = net.Listen("tcp4", net.JoinHostPort(n.RxIP, "0"))
		return err
	}); err != nil {
		return nil, fmt.Errorf("weaklink: review service: %w", err)
	}
	q.hs = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			r.Body = &countReader{r: r.Body, n: &q.received}
		}
		q.srv.Handler().ServeHTTP(w, r)
	})}
	go func() { q.served <- q.hs.Serve(ln) }()

	boxDir := filepath.Join(dir, "box")
	key, err := upload.LoadOrCreateKey(boxDir)
	if err != nil {
		return nil, err
	}
	if _, err := boxauth.Enroll(context.Background(), q.srv.Store(), key.Public().(ed25519.PublicKey), "weak-link box", "bench", time.Now()); err != nil {
		return nil, fmt.Errorf("weaklink: enrol: %w", err)
	}
	st, err := flagged.Open(flagged.Config{Dir: filepath.Join(boxDir, "flagged"), Logger: log})
	if err != nil {
		return nil, err
	}
	clip := fakeClip(segmentMB << 20)
	for range max(1, mb/segmentMB) {
		at := time.Now()
		if _, err := st.Create(flagged.Segment{Reason: flagged.ReasonMark, Device: "bench", At: at},
			func(path string) (*flagged.Clip, error) {
				return &flagged.Clip{Start: at.Add(-5 * time.Second), End: at.Add(2 * time.Second), Bytes: int64(len(clip))},
					os.WriteFile(path, clip, 0o644)
			}); err != nil {
			return nil, err
		}
	}
	q.up, err = upload.New(upload.Config{URL: "http://" + ln.Addr().String(), Key: key, Dir: filepath.Join(boxDir, "upload"),
		Source: st, HTTPClient: &http.Client{Transport: &http.Transport{DialContext: Dialer(n.Box), ResponseHeaderTimeout: 2 * time.Minute}},
		Logger: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	go func() { defer close(q.done); q.up.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for q.received.Load() == 0 {
		if time.Now().After(deadline) {
			return nil, errors.New("weaklink: the queued upload sent nothing in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ok = true
	return q, nil
}

// GoLive tells the uploader the box is live, as the box's state machine
// does when the big button is pressed.
func (q *QueuedUpload) GoLive() {
	q.up.SetLive(true)
	q.mu.Lock()
	q.atLive, q.live = q.received.Load(), true
	q.mu.Unlock()
}

// Result is what was sent before and since GoLive.
func (q *QueuedUpload) Result() *UploadResult {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := &UploadResult{QueuedMB: QueuedMB, BeforeLiveKB: float64(q.atLive) / 1024}
	if q.live {
		r.WhileLiveKB = float64(q.received.Load()-q.atLive) / 1024
	}
	return r
}

// Stop stops the uploader and the service.
func (q *QueuedUpload) Stop() {
	if q.cancel != nil {
		q.cancel()
		<-q.done
	}
	if q.hs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = q.hs.Shutdown(ctx)
		cancel()
		<-q.served
	}
	if q.srv != nil {
		q.srv.Close()
	}
}

type countReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countReader) Close() error { return c.r.Close() }

// fakeClip is size bytes the service takes for an MP4 (an ftyp box first),
// random after it so no link or proxy could compress it.
func fakeClip(size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, 24)
	copy(b[4:], "ftypisom\x00\x00\x02\x00isommp41")
	_, _ = rand.Read(b[24:])
	return b
}
