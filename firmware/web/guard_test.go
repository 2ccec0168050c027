package web

import (
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// TestForeignHostsAndOriginsAreRefused: a page on another site must not
// change anything on the box (cross-site POSTs) nor read it through a
// name of its own resolving to the box (DNS rebinding).
func TestForeignHostsAndOriginsAreRefused(t *testing.T) {
	box, pl, start := newBox(t)
	start()
	srv := newServer(t, box)
	addr := serve(t, srv, DefaultLimits())
	_, port, _ := net.SplitHostPort(addr)
	base := "http://" + addr
	c := clientFrom("127.0.0.1")
	resp, err := c.Post(base+"/api/login", "application/json", strings.NewReader(`{"pin":"`+testPIN+`"}`))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login: %v %v", err, resp)
	}
	resp.Body.Close()
	cookie := resp.Cookies()[0]

	hostname, _ := os.Hostname()
	own := ownAddr(t)
	var accepted int64 // presses answered 200, each a card change to come
	for _, tc := range []struct {
		name, method, path, host string
		header                   map[string]string
		want                     int
	}{
		{"own address", "GET", "/api/status", addr, nil, 200},
		{"localhost", "GET", "/api/status", "localhost:" + port, nil, 200},
		{"IPv6 loopback", "GET", "/api/status", "[::1]:" + port, nil, 200},
		{"hostname", "GET", "/api/status", hostname + ":" + port, nil, 200},
		{"hostname.local", "GET", "/api/status", hostname + ".local:" + port, nil, 200},
		{"interface address", "GET", "/api/status", net.JoinHostPort(own, port), nil, 200},
		{"rebound name", "GET", "/api/status", "attacker.example:" + port, nil, http.StatusMisdirectedRequest},
		{"rebound name, page", "GET", "/", "attacker.example", nil, http.StatusMisdirectedRequest},
		{"foreign address", "GET", "/api/status", "203.0.113.9:" + port, nil, http.StatusMisdirectedRequest},
		{"same origin press", "POST", "/api/button/next", addr,
			map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"}, 200},
		{"press without browser headers", "POST", "/api/button/next", addr, nil, 200},
		{"foreign origin press", "POST", "/api/button/next", addr,
			map[string]string{"Origin": "http://attacker.example"}, http.StatusForbidden},
		{"null origin press", "POST", "/api/button/next", addr, map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"cross-site press", "POST", "/api/button/next", addr,
			map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site press", "POST", "/api/button/next", addr,
			map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://other.local"}, http.StatusForbidden},
		{"foreign origin login", "POST", "/api/login", addr,
			map[string]string{"Origin": "http://attacker.example", "Content-Type": "application/json"}, http.StatusForbidden},
		{"foreign origin logout", "POST", "/api/logout", addr,
			map[string]string{"Origin": "http://attacker.example"}, http.StatusForbidden},
		{"foreign origin preview", "POST", "/api/whep", addr,
			map[string]string{"Origin": "http://attacker.example"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// an accepted press reaches the pipeline through the box's
			// event loop: wait for the earlier ones to land (slow under
			// qemu), so a late one is not taken for a refused press
			deadline := time.Now().Add(10 * time.Second)
			for pl.cards.Load() < accepted && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			before := pl.cards.Load()
			if before != accepted {
				t.Fatalf("%d card changes, want the %d accepted presses", before, accepted)
			}
			var body *strings.Reader
			if tc.path == "/api/login" {
				body = strings.NewReader(`{"pin":"` + testPIN + `"}`)
			} else {
				body = strings.NewReader("")
			}
			req, _ := http.NewRequest(tc.method, base+tc.path, body)
			req.Host = tc.host
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			req.AddCookie(cookie)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s Host %q: %s, want %d", tc.method, tc.path, tc.host, resp.Status, tc.want)
			}
			if tc.path == "/api/button/next" && tc.want == 200 {
				accepted++
			}
			if tc.path == "/api/button/next" && tc.want != 200 {
				time.Sleep(100 * time.Millisecond)
				if pl.cards.Load() != before {
					t.Fatal("a refused press changed the card")
				}
			}
		})
	}
}

// ownAddr is one of this machine's non-loopback addresses (loopback when
// it has none).
func ownAddr(t *testing.T) string {
	ifas, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifa := range ifas {
		if p, err := netip.ParsePrefix(ifa.String()); err == nil && !p.Addr().IsLoopback() {
			return p.Addr().WithZone("").String()
		}
	}
	return "127.0.0.1"
}

func TestHostGuardFollowsNewAddresses(t *testing.T) {
	g := newHostGuard([]string{"cunbo-box-7:8080", "box.lan"}, time.Now)
	for host, want := range map[string]bool{
		"cunbo-box-7": true, "CUNBO-BOX-7.:80": true, "box.lan": true, "app.localhost": true,
		"127.5.6.7": true, "[::ffff:127.0.0.1]:80": true,
		"box.lan.attacker.example": false, "10.255.255.254": false, "": false, "[": false,
	} {
		if got := g.allowed(host); got != want {
			t.Errorf("Host %q: allowed %v, want %v", host, got, want)
		}
	}
}

// FuzzHostAllowed: no Host header upsets the check, and a name under a
// domain that is not the box's is never allowed however it starts.
func FuzzHostAllowed(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8080", "[::1]:80", "localhost", "cunbo.local", "a.localhost", "[", "%00", "1.2.3.4.5", "::ffff:7f00:1"} {
		f.Add(s)
	}
	g := newHostGuard([]string{"cunbo-box"}, time.Now)
	f.Fuzz(func(t *testing.T, h string) {
		_ = g.allowed(h)
		if strings.ContainsAny(h, ":[]%") {
			return
		}
		if evil := h + ".attacker-example.com"; g.allowed(evil) {
			t.Fatalf("Host %q allowed", evil)
		}
	})
}
