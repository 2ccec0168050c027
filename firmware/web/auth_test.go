package web

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// TestPINGuessingAcrossAddresses: an attacker who takes a new address for
// every guess (a /24 of them, the whole of 127/8, random IPv6 ones) gets
// few guesses an hour, and the table of counts stays bounded.
func TestPINGuessingAcrossAddresses(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(i int) string
		// most is how many wrong PINs may be checked in the first hour
		// and in the whole day.
		mostHour, mostDay int
	}{
		{"one /24", func(i int) string { return fmt.Sprintf("192.168.1.%d", 2+i%250) }, 150, 1200},
		{"all of 127/8", func(i int) string { return fmt.Sprintf("127.%d.%d.%d", i%250, (i/250)%250, 1+i%199) }, 150, 1200},
		{"random IPv6", func(i int) string {
			return fmt.Sprintf("2001:db8:%x:%x::%x", rand.Uint32N(1<<16), rand.Uint32N(1<<16), i)
		}, 150, 1200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
			s := newSessions(testPIN, time.Hour, 30*time.Second, clk.Now)
			start := clk.Now()
			checked, hour := 0, 0
			for i := 0; clk.Now().Sub(start) < 24*time.Hour; i++ {
				// One guess a second, each from a fresh address (faster
				// guessing only meets the lockouts sooner).
				clk.Advance(time.Second)
				addr := tc.addr(i)
				s.mu.Lock()
				compared := s.lockedLocked(scopes(addr), clk.Now()) == 0
				s.mu.Unlock()
				guess := fmt.Sprintf("%06d", (i*7919)%1000000)
				if guess == testPIN {
					guess = "000000"
				}
				token, _, err := s.login(addr, guess)
				if err != nil {
					t.Fatal(err)
				}
				if token != "" {
					t.Fatalf("guess %d got in", i)
				}
				if compared {
					checked++
				}
				if clk.Now().Sub(start) <= time.Hour {
					hour = checked
				}
				if n := len(s.fails); n > maxFailEntries {
					t.Fatalf("%d entries in the wrong-PIN table, bound %d", n, maxFailEntries)
				}
			}
			t.Logf("wrong PINs checked: %d in the first hour, %d in a day", hour, checked)
			if hour > tc.mostHour || checked > tc.mostDay {
				t.Fatalf("%d guesses checked in the first hour, %d in a day; want at most %d and %d",
					hour, checked, tc.mostHour, tc.mostDay)
			}
		})
	}
}

// TestPINBruteForceOverHTTP is the attack as it was found: wrong PINs
// from 618 loopback addresses in turn, against the real server. Only a
// handful may be checked before every address has to wait.
func TestPINBruteForceOverHTTP(t *testing.T) {
	srv := newServer(t, runningBox(t))
	base := "http://" + serve(t, srv, DefaultLimits())
	checked, locked := 0, 0
	for i := range 618 {
		src := fmt.Sprintf("127.%d.%d.%d", 1+i/200, i%200, 1+i%250)
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
		resp, err := c.Post(base+"/api/login", "application/json", strings.NewReader(fmt.Sprintf(`{"pin":"%06d"}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			locked++
		default:
			t.Fatalf("guess %d from %s: %s", i, src, resp.Status)
		}
	}
	t.Logf("618 guesses: %d checked, %d refused", checked, locked)
	if checked >= maxAllFails {
		t.Fatalf("%d wrong PINs checked from 618 addresses, want fewer than %d", checked, maxAllFails)
	}
}

func TestPINMustHaveSixDigits(t *testing.T) {
	box := runningBox(t)
	for _, tc := range []struct {
		pin string
		ok  bool
	}{
		{"2468", false}, {"24681", false}, {"246813", true}, {"24681357", true}, {"246813579", false},
		{"24681a", false}, {"", false}, {" 246813", false},
	} {
		_, err := New(Options{Box: box, PIN: tc.pin})
		if (err == nil) != tc.ok {
			t.Errorf("PIN %q: err %v, want ok=%v", tc.pin, err, tc.ok)
		}
	}
}

// TestWrongPINTableIsBounded: wrong PINs from endless addresses (each
// comes back after its lockout) keep a bounded table that still holds the
// box-wide count.
func TestWrongPINTableIsBounded(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	s := newSessions(testPIN, time.Hour, 30*time.Second, clk.Now)
	for i := range 20000 {
		clk.Advance(time.Hour) // every lockout has passed
		if _, _, err := s.login(fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff), "000000"); err != nil {
			t.Fatal(err)
		}
		if len(s.fails) > maxFailEntries {
			t.Fatalf("after %d addresses: %d entries, bound %d", i+1, len(s.fails), maxFailEntries)
		}
	}
	if s.fails["all"] == nil {
		t.Fatal("the box-wide count was dropped")
	}
}
