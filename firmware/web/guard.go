package web

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// hostGuard refuses requests whose Host is not one of the box's own names
// or addresses. A web page on the internet can make the phone's browser
// resolve the attacker's own name to the box (DNS rebinding) and then read
// the page as same-origin: the Host header still carries that name.
type hostGuard struct {
	now func() time.Time

	mu       sync.Mutex
	names    map[string]bool // lower case, no port
	addrs    map[netip.Addr]bool
	loadedAt time.Time
}

// addrsMaxAge: a DHCP lease may give the box a new address at any time;
// an address not known is looked up again at most this often.
const addrsMaxAge = time.Second

func newHostGuard(extra []string, now func() time.Time) *hostGuard {
	g := &hostGuard{now: now, names: map[string]bool{"localhost": true}}
	if h, err := os.Hostname(); err == nil && h != "" {
		h = strings.ToLower(h)
		g.names[h] = true
		g.names[h+".local"] = true
		if short, _, ok := strings.Cut(h, "."); ok {
			g.names[short] = true
			g.names[short+".local"] = true
		}
	}
	for _, n := range extra {
		g.addName(n)
	}
	return g
}

// addName allows a name or address (a port is ignored).
func (g *hostGuard) addName(n string) {
	n = hostOnly(n)
	if n == "" {
		return
	}
	if _, err := netip.ParseAddr(n); err == nil {
		return // addresses are checked against the interfaces
	}
	g.mu.Lock()
	g.names[n] = true
	g.mu.Unlock()
}

// hostOnly is a Host header's host part, lower case, without brackets,
// port or a trailing dot.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	return strings.ToLower(h)
}

func (g *hostGuard) allowed(host string) bool {
	h := hostOnly(host)
	if h == "" {
		return false
	}
	if a, err := netip.ParseAddr(h); err == nil {
		a = a.Unmap().WithZone("")
		if a.IsLoopback() {
			return true
		}
		return g.isOwnAddr(a)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.names[h] || strings.HasSuffix(h, ".localhost")
}

func (g *hostGuard) isOwnAddr(a netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.addrs[a] {
		return true
	}
	if now := g.now(); g.addrs == nil || now.Sub(g.loadedAt) >= addrsMaxAge {
		g.loadedAt = now
		g.addrs = interfaceAddrs()
	}
	return g.addrs[a]
}

func interfaceAddrs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	ifas, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, ifa := range ifas {
		if p, err := netip.ParsePrefix(ifa.String()); err == nil {
			out[p.Addr().Unmap().WithZone("")] = true
		}
	}
	return out
}

// guard is every request's first check: the Host must be the box's, and a
// state change (anything but GET, HEAD and OPTIONS) must come from the
// box's own page, not from another site the phone has open: a foreign
// Origin, "null", or Sec-Fetch-Site cross-site/same-site is refused.
type guard struct {
	hosts *hostGuard
	cop   *http.CrossOriginProtection
	log   *slog.Logger
}

func newGuard(extraHosts []string, now func() time.Time, log *slog.Logger) *guard {
	return &guard{hosts: newHostGuard(extraHosts, now), cop: http.NewCrossOriginProtection(), log: log}
}

// check answers and returns false when r must not be served.
func (g *guard) check(w http.ResponseWriter, r *http.Request) bool {
	if !g.hosts.allowed(r.Host) {
		g.log.Warn("phone page: refused a request for another host name", "host", r.Host, "client", clientKey(r))
		writeJSON(w, http.StatusMisdirectedRequest, map[string]string{"error": "请用盒子的地址打开页面 (unknown host name)"})
		return false
	}
	if err := g.cop.Check(r); err != nil {
		g.log.Warn("phone page: refused a request from another website", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "client", clientKey(r))
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "请直接在盒子的页面上操作 (request from another website refused)"})
		return false
	}
	return true
}
