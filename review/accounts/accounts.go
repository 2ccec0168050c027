// Package accounts hashes and checks console passwords (argon2id), makes
// new ones, and slows down guessing.
package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Parameters of argon2id: OWASP's minimum (19 MiB, 2 passes, 1 lane), so a
// county office's small server checks a password in tens of milliseconds
// while a stolen database still costs a guesser that much per try.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
	maxMemory    = 64 * 1024 // KiB, the most Verify accepts
)

// MinPassword is the shortest password accepted, in characters.
const MinPassword = 10

// ErrBadHash: a stored hash that is not one this package wrote.
var ErrBadHash = errors.New("accounts: malformed password hash")

// Hash returns the PHC string of password under a fresh salt.
func Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("accounts: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches hash (a PHC string from Hash,
// with whatever parameters it names).
func Verify(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var v int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, ErrBadHash
	}
	// Bounded so that a corrupt or planted hash cannot make one sign-in
	// take gigabytes or minutes.
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m < 8 || m > maxMemory || t == 0 || t > 10 || p == 0 || p > 4 {
		return false, ErrBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, ErrBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, ErrBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// CheckPassword says, in plain Chinese for the person choosing it, why a
// password is refused; nil when it is acceptable.
func CheckPassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPassword {
		return fmt.Errorf("密码太短：至少要 %d 个字", MinPassword)
	}
	if utf8.RuneCountInString(pw) > 200 {
		return errors.New("密码太长：最多 200 个字")
	}
	return nil
}

// passwordAlphabet leaves out look-alikes (0/O, 1/l/I) because a generated
// password is read off a screen and typed on a phone.
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

// NewPassword makes a random password of 16 characters (80 bits) in
// groups of four.
func NewPassword() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(passwordAlphabet[int(c)%len(passwordAlphabet)])
	}
	return sb.String()
}

// Throttle limits failed sign-ins per key (a user name, an address): after
// Max failures within Window, the key is refused until the window has
// passed since its first failure. Success does not reset other keys.
type Throttle struct {
	Max    int
	Window time.Duration

	mu   sync.Mutex
	keys map[string]*attempts
}

type attempts struct {
	first time.Time
	n     int
}

// NewThrottle returns a throttle allowing max failures per window.
func NewThrottle(max int, window time.Duration) *Throttle {
	return &Throttle{Max: max, Window: window, keys: map[string]*attempts{}}
}

// Allowed reports whether key may try now; when not, also how long to wait.
func (t *Throttle) Allowed(key string, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.keys[key]
	if a == nil || now.Sub(a.first) >= t.Window {
		return true, 0
	}
	if a.n >= t.Max {
		return false, t.Window - now.Sub(a.first)
	}
	return true, 0
}

// Fail records a failed attempt of key.
func (t *Throttle) Fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Forget stale keys as we go, so guessing with many names cannot grow
	// the map without bound for long.
	if len(t.keys) > 10000 {
		for k, a := range t.keys {
			if now.Sub(a.first) >= t.Window {
				delete(t.keys, k)
			}
		}
	}
	if t.keys == nil {
		t.keys = map[string]*attempts{}
	}
	a := t.keys[key]
	if a == nil || now.Sub(a.first) >= t.Window {
		a = &attempts{first: now}
		t.keys[key] = a
	}
	a.n++
}

// Succeed forgets key's failures.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, key)
}
