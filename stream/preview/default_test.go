package preview

import (
	"net"
	"testing"
)

// The preview has no login: only an explicit address may open it beyond
// this machine.
func TestAddrDefaultsToLoopback(t *testing.T) {
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"default", "", DefaultAddr},
		{"explicit network address kept", "0.0.0.0:8554", "0.0.0.0:8554"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{Addr: tc.addr})
			if s.cfg.Addr != tc.want {
				t.Fatalf("Addr %q, want %q", s.cfg.Addr, tc.want)
			}
		})
	}
	host, _, err := net.SplitHostPort(DefaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Fatalf("default address %q is not loopback", DefaultAddr)
	}
}
