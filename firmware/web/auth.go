package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// CookieName is the session cookie.
const CookieName = "cunbo_session"

// sessions is the PIN gate: wrong-PIN limits and a bounded table of
// random session tokens. The box is on a home LAN with a 6–8 digit PIN,
// so the limits are what keep guessing impractical. Wrong PINs are
// counted per client address, per network (/24, /64: one machine can
// take many addresses there) and for the whole box; each count that
// reaches its limit locks logins from its scope out, for longer each
// time. A phone that already has its session is never locked out.
type sessions struct {
	pin  []byte
	ttl  time.Duration
	now  func() time.Time
	max  int
	lock time.Duration

	mu     sync.Mutex
	tokens map[string]time.Time // token → expiry
	fails  map[string]*failures // failScope key → count
}

type failures struct {
	n       int
	until   time.Time
	lockout time.Duration
	last    time.Time
}

// Wrong PINs allowed before a lockout, per scope. With the lockout
// doubling to 30 min, the whole box checks at most ~140 guesses in the
// first hour and 40 an hour after: over a year, on average, for a
// 6-digit PIN.
const (
	maxFails    = 5  // one address (one phone)
	maxNetFails = 10 // one /24 or /64
	maxAllFails = 20 // everyone
	maxLockout  = 30 * time.Minute
	// maxFailEntries bounds the table; the network and box-wide counts
	// still hold when an address's count is dropped to make room.
	maxFailEntries = 1024
	// failMemory: a scope quiet this long starts afresh.
	failMemory = 24 * time.Hour
)

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

type failScope struct {
	key   string
	limit int
}

// scopes are the counts a wrong PIN from client adds to.
func scopes(client string) []failScope {
	out := []failScope{{"addr " + client, maxFails}}
	if a, err := netip.ParseAddr(client); err == nil {
		a = a.Unmap().WithZone("")
		bits := 64
		if a.Is4() {
			bits = 24
		}
		if p, err := a.Prefix(bits); err == nil {
			out = append(out, failScope{"net " + p.String(), maxNetFails})
		}
	}
	return append(out, failScope{"all", maxAllFails})
}

// login checks pin for the client. It returns a new token, or how long the
// client must wait before trying again (0 for a plain wrong PIN).
func (s *sessions) login(client, pin string) (token string, retryAfter time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sc := scopes(client)
	wait := s.lockedLocked(sc, now)
	if wait > 0 {
		return "", wait, nil
	}
	if subtle.ConstantTimeCompare([]byte(pin), s.pin) != 1 {
		for _, c := range sc {
			f := s.failure(c.key, now)
			f.n++
			f.last = now
			if f.n >= c.limit {
				f.until = now.Add(f.lockout)
				f.lockout = min(2*f.lockout, maxLockout)
				f.n = 0
				wait = max(wait, f.until.Sub(now))
			}
		}
		return "", wait, nil
	}
	delete(s.fails, sc[0].key)
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

// lockedLocked is how long logins from the scopes must wait; 0 when a
// PIN from them would be checked.
func (s *sessions) lockedLocked(sc []failScope, now time.Time) time.Duration {
	var wait time.Duration
	for _, c := range sc {
		if f := s.fails[c.key]; f != nil && now.Before(f.until) {
			wait = max(wait, f.until.Sub(now))
		}
	}
	return wait
}

func (s *sessions) pruneTokens(now time.Time) {
	for t, exp := range s.tokens {
		if !now.Before(exp) {
			delete(s.tokens, t)
		}
	}
}

// failure is key's count, made if need be; a count quiet for failMemory
// starts afresh.
func (s *sessions) failure(key string, now time.Time) *failures {
	f := s.fails[key]
	if f != nil && now.Sub(f.last) > failMemory && !now.Before(f.until) {
		delete(s.fails, key)
		f = nil
	}
	if f == nil {
		s.makeRoom(now)
		f = &failures{lockout: s.lock}
		s.fails[key] = f
	}
	return f
}

// makeRoom keeps the table under maxFailEntries: first it forgets quiet
// scopes, then the one whose last wrong PIN is the oldest (never the
// box-wide count, which is what still holds an attacker with endless
// addresses).
func (s *sessions) makeRoom(now time.Time) {
	if len(s.fails) < maxFailEntries {
		return
	}
	for k, f := range s.fails {
		if now.Sub(f.last) > failMemory && !now.Before(f.until) {
			delete(s.fails, k)
		}
	}
	for len(s.fails) >= maxFailEntries {
		var oldest string
		var at time.Time
		for k, f := range s.fails {
			if k != "all" && (oldest == "" || f.last.Before(at)) {
				oldest, at = k, f.last
			}
		}
		delete(s.fails, oldest)
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

// MinPINDigits: a 6-digit PIN with the wrong-PIN limits below takes
// years of guessing; 4 digits took hours.
const MinPINDigits = 6

// checkPIN accepts 6 to 8 digits.
func checkPIN(pin string) error {
	if len(pin) < MinPINDigits || len(pin) > 8 {
		return fmt.Errorf("web: the PIN must have %d to 8 digits, it has %d", MinPINDigits, len(pin))
	}
	for _, c := range pin {
		if c < '0' || c > '9' {
			return errors.New("web: the PIN must be digits only")
		}
	}
	return nil
}
