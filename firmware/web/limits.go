package web

import (
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Limits bound what one phone page server may hold open. The box shares
// its file descriptors and its memory with the recorder and the flagged
// store: a LAN neighbour opening thousands of idle connections must cost
// the page a few slots, never a lost recording.
type Limits struct {
	// MaxConns caps open connections in total; MaxConnsPerHost those from
	// one client address. Connections beyond them are closed at once
	// rather than queued (a queue would hold the descriptors anyway).
	MaxConns        int
	MaxConnsPerHost int
	// ReadHeader, Read (whole request, body included), Write and Idle
	// (between keep-alive requests) are the http.Server timeouts. They
	// leave the hours-long events stream alone: net/http lifts the read
	// deadline once a request is read, and the stream sets a deadline on
	// each write itself.
	ReadHeader, Read, Write, Idle time.Duration
}

// DefaultLimits are the phone page's limits. A phone opens at most ~6
// connections per host plus the events stream and the preview; a few
// phones and a trainer's laptop fit far below MaxConns.
func DefaultLimits() Limits {
	return Limits{MaxConns: 256, MaxConnsPerHost: 32,
		ReadHeader: 5 * time.Second, Read: 15 * time.Second, Write: 30 * time.Second, Idle: 30 * time.Second}
}

// fileLimit raises the soft RLIMIT_NOFILE to the hard limit (Go does so
// at start-up too, but a parent may have lowered it again) and returns
// the soft limit in force.
func fileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		raised := rl
		raised.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			rl = raised
		}
	}
	return rl.Cur, nil
}

// capToFiles keeps the connection cap at an eighth of the descriptors at
// most, so the recorder's segments, the flagged store, ffmpeg's pipes and
// the speech worker always find one.
func (l Limits) capToFiles(files uint64) Limits {
	if files == 0 {
		return l
	}
	if most := int(min(files/8, 1<<20)); l.MaxConns > most {
		l.MaxConns = max(most, 1)
	}
	l.MaxConnsPerHost = min(l.MaxConnsPerHost, l.MaxConns)
	return l
}

// connLimiter counts open connections in total and per client address.
// When the total is reached, the connection idle the longest (one that
// sent no request yet, or sits between keep-alive requests) is closed to
// make room, so a flood from many addresses cannot lock the phone out;
// one address over its own cap is refused outright.
type connLimiter struct {
	maxTotal, maxPerHost int

	mu      sync.Mutex
	total   int
	perHost map[string]int
	idle    map[*limitedConn]time.Time // evictable connections, since when
}

func newConnLimiter(maxTotal, maxPerHost int) *connLimiter {
	return &connLimiter{maxTotal: maxTotal, maxPerHost: maxPerHost,
		perHost: map[string]int{}, idle: map[*limitedConn]time.Time{}}
}

// admit reserves a slot for a connection from host, closing the longest
// idle connection if the total is full. It reports false when there is
// no room.
func (l *connLimiter) admit(c net.Conn, host string) (*limitedConn, bool) {
	l.mu.Lock()
	if l.perHost[host] >= l.maxPerHost {
		l.mu.Unlock()
		return nil, false
	}
	var victim *limitedConn
	if l.total >= l.maxTotal {
		var since time.Time
		for ic, at := range l.idle {
			if victim == nil || at.Before(since) {
				victim, since = ic, at
			}
		}
		if victim == nil {
			l.mu.Unlock()
			return nil, false
		}
		l.releaseLocked(victim)
	}
	lc := &limitedConn{Conn: c, l: l, host: host}
	l.total++
	l.perHost[host]++
	l.idle[lc] = time.Now()
	l.mu.Unlock()
	if victim != nil {
		_ = victim.Conn.Close()
	}
	return lc, true
}

func (l *connLimiter) releaseLocked(c *limitedConn) {
	if c.released {
		return
	}
	c.released = true
	l.total--
	if l.perHost[c.host]--; l.perHost[c.host] <= 0 {
		delete(l.perHost, c.host)
	}
	delete(l.idle, c)
}

// connState is the http.Server's ConnState hook: it tracks which
// connections may be evicted.
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lc.released {
		return
	}
	switch s {
	case http.StateNew, http.StateIdle:
		l.idle[lc] = time.Now()
	case http.StateActive, http.StateHijacked:
		delete(l.idle, lc)
	case http.StateClosed:
		l.releaseLocked(lc)
	}
}

type limitedConn struct {
	net.Conn
	l        *connLimiter
	host     string
	released bool // guarded by l.mu
}

func (c *limitedConn) Close() error {
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// limitListener closes connections over the limiter's caps as soon as
// they are accepted.
type limitListener struct {
	net.Listener
	l *connLimiter
}

func (ln *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc, ok := ln.l.admit(c, remoteHost(c.RemoteAddr())); ok {
			return lc, nil
		}
		_ = c.Close()
	}
}

func remoteHost(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
