package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// CookieName is the session cookie.
const CookieName = "cunbo_session"

// sessions is the PIN gate: a wrong-PIN limiter per client address and a
// bounded table of random session tokens. The box is on a home LAN with a
// 4–8 digit PIN, so the limiter is what keeps guessing impractical: after
// maxFails wrong PINs an address is locked out, for longer each time.
type sessions struct {
	pin  []byte
	ttl  time.Duration
	now  func() time.Time
	max  int
	lock time.Duration

	mu     sync.Mutex
	tokens map[string]time.Time // token → expiry
	fails  map[string]*failures
}

type failures struct {
	n       int
	until   time.Time
	lockout time.Duration
	last    time.Time
}

const maxFails = 5

func newSessions(pin string, ttl, lockout time.Duration, now func() time.Time) *sessions {
	return &sessions{pin: []byte(pin), ttl: ttl, now: now, max: 64, lock: lockout,
		tokens: map[string]time.Time{}, fails: map[string]*failures{}}
}

// clientKey is the address a PIN guess is counted against.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// login checks pin for the client. It returns a new token, or how long the
// client must wait before trying again (0 for a plain wrong PIN).
func (s *sessions) login(client, pin string) (token string, retryAfter time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	f := s.fails[client]
	if f != nil && now.Before(f.until) {
		return "", f.until.Sub(now), nil
	}
	if subtle.ConstantTimeCompare([]byte(pin), s.pin) != 1 {
		if f == nil {
			s.pruneFails(now)
			f = &failures{lockout: s.lock}
			s.fails[client] = f
		}
		f.n++
		f.last = now
		if f.n >= maxFails {
			f.until = now.Add(f.lockout)
			f.lockout = min(2*f.lockout, 30*time.Minute)
			f.n = 0
			return "", f.until.Sub(now), nil
		}
		return "", 0, nil
	}
	delete(s.fails, client)
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", 0, fmt.Errorf("web: session token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	s.pruneTokens(now)
	if len(s.tokens) >= s.max {
		// Drop the session closest to expiry: the oldest login.
		var oldest string
		var at time.Time
		for t, exp := range s.tokens {
			if oldest == "" || exp.Before(at) {
				oldest, at = t, exp
			}
		}
		delete(s.tokens, oldest)
	}
	s.tokens[token] = now.Add(s.ttl)
	return token, 0, nil
}

func (s *sessions) pruneTokens(now time.Time) {
	for t, exp := range s.tokens {
		if !now.Before(exp) {
			delete(s.tokens, t)
		}
	}
}

// pruneFails forgets addresses that have been quiet for a day, so the
// table cannot grow without bound.
func (s *sessions) pruneFails(now time.Time) {
	if len(s.fails) < 256 {
		return
	}
	for k, f := range s.fails {
		if now.Sub(f.last) > 24*time.Hour && now.After(f.until) {
			delete(s.fails, k)
		}
	}
}

func (s *sessions) valid(r *http.Request) bool {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[c.Value]
	if !ok {
		return false
	}
	if !s.now().Before(exp) {
		delete(s.tokens, c.Value)
		return false
	}
	return true
}

func (s *sessions) logout(r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		s.mu.Lock()
		delete(s.tokens, c.Value)
		s.mu.Unlock()
	}
}

func (s *sessions) cookie(token string) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    token,
		Path:     "/",
		MaxAge:   int(s.ttl / time.Second),
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
}
