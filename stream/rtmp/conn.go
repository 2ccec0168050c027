package rtmp

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// maxInbound bounds what the server may send ahead of us; a publisher only
// expects a few control messages.
const maxInbound = 1 << 20

var errInboundFlood = errors.New("server sent more than 1 MiB unread")

// readAheadConn reads the socket on its own goroutine so that a peer that
// closes or resets is noticed at once, even while nothing is being sent,
// and so that all protocol reads can still happen on the publisher's single
// goroutine (gortmplib's message reader may write acks and pongs, so it must
// not run concurrently with media writes). Read deadlines apply to the
// buffer, write deadlines to the socket.
type readAheadConn struct {
	net.Conn
	sent *atomic.Uint64 // shared byte counter across connections

	mu       sync.Mutex
	buf      []byte
	err      error
	deadline time.Time
	wake     chan struct{}
	dead     chan struct{} // closed when the socket read fails
}

func newReadAheadConn(c net.Conn, sent *atomic.Uint64) *readAheadConn {
	rc := &readAheadConn{Conn: c, sent: sent, wake: make(chan struct{}, 1), dead: make(chan struct{})}
	go rc.pump()
	return rc
}

func (rc *readAheadConn) pump() {
	b := make([]byte, 4096)
	for {
		n, err := rc.Conn.Read(b)
		rc.mu.Lock()
		if n > 0 {
			rc.buf = append(rc.buf, b[:n]...)
			if len(rc.buf) > maxInbound && err == nil {
				err = errInboundFlood
			}
		}
		if err != nil {
			rc.err = err
		}
		rc.mu.Unlock()
		select {
		case rc.wake <- struct{}{}:
		default:
		}
		if err != nil {
			close(rc.dead)
			return
		}
	}
}

// Read takes from the read-ahead buffer.
func (rc *readAheadConn) Read(p []byte) (int, error) {
	for {
		rc.mu.Lock()
		if len(rc.buf) > 0 {
			n := copy(p, rc.buf)
			rc.buf = rc.buf[:copy(rc.buf, rc.buf[n:])]
			rc.mu.Unlock()
			return n, nil
		}
		err, deadline := rc.err, rc.deadline
		rc.mu.Unlock()
		if err != nil {
			return 0, err
		}
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-rc.wake:
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// Buffered reports how many received bytes wait to be read.
func (rc *readAheadConn) Buffered() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.buf)
}

func (rc *readAheadConn) Write(p []byte) (int, error) {
	n, err := rc.Conn.Write(p)
	rc.sent.Add(uint64(n))
	return n, err
}

func (rc *readAheadConn) SetReadDeadline(t time.Time) error {
	rc.mu.Lock()
	rc.deadline = t
	rc.mu.Unlock()
	select { // re-evaluate a blocked Read
	case rc.wake <- struct{}{}:
	default:
	}
	return nil
}

func (rc *readAheadConn) SetDeadline(t time.Time) error {
	_ = rc.SetReadDeadline(t)
	return rc.Conn.SetWriteDeadline(t)
}

func (rc *readAheadConn) Close() error {
	err := rc.Conn.Close()
	select {
	case rc.wake <- struct{}{}:
	default:
	}
	return err
}
