package sdnotify

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// listen opens a real unixgram socket standing in for systemd.
func listen(t *testing.T) (string, func() string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	recv := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no datagram: %v", err)
		}
		return string(buf[:n])
	}
	return path, recv
}

func TestNotifyMessages(t *testing.T) {
	path, recv := listen(t)
	n := FromEnv(func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return path
		}
		return ""
	})
	if !n.Enabled() {
		t.Fatal("disabled")
	}
	cases := []struct {
		send func() error
		want string
	}{
		{func() error { return n.Ready("live on 2 outputs") }, "READY=1\nSTATUS=live on 2 outputs"},
		{func() error { return n.Status("a\nb") }, "STATUS=a b"},
		{n.Watchdog, "WATCHDOG=1"},
		{n.Stopping, "STOPPING=1"},
	}
	for _, tc := range cases {
		if err := tc.send(); err != nil {
			t.Fatal(err)
		}
		if got := recv(); got != tc.want {
			t.Fatalf("got %q, want %q", got, tc.want)
		}
	}
	if err := n.Notify("garbage"); err == nil {
		t.Fatal("malformed assignment accepted")
	}
}

func TestAbstractSocket(t *testing.T) {
	name := "cunbo-test-" + strconv.Itoa(os.Getpid())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "\x00" + name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := At("@" + name).Ready("ok"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "READY=1\nSTATUS=ok" {
		t.Fatalf("%q %v", buf[:n], err)
	}
}

func TestDisabledNotifierIsSilent(t *testing.T) {
	var nilN *Notifier
	for _, n := range []*Notifier{nilN, At(""), FromEnv(func(string) string { return "" })} {
		if n.Enabled() || n.Ready("x") != nil || n.Watchdog() != nil {
			t.Fatal("disabled notifier did something")
		}
	}
	if err := At(filepath.Join(t.TempDir(), "absent.sock")).Watchdog(); err == nil {
		t.Fatal("sending to a missing socket should fail")
	}
}

func TestWatchdogInterval(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	cases := []struct {
		usec, pid string
		want      time.Duration
		ok, err   bool
	}{
		{"", "", 0, false, false},
		{"30000000", me, 30 * time.Second, true, false},
		{"30000000", "", 30 * time.Second, true, false},
		{"30000000", "1", 0, false, false},
		{"soon", me, 0, false, true},
		{"-5", me, 0, false, true},
	}
	for _, tc := range cases {
		env := map[string]string{"WATCHDOG_USEC": tc.usec, "WATCHDOG_PID": tc.pid}
		d, ok, err := WatchdogInterval(func(k string) string { return env[k] })
		if d != tc.want || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("%+v: got %s %t %v", tc, d, ok, err)
		}
	}
}

func TestWatchdogPingsOnlyWhenHealthy(t *testing.T) {
	path, recv := listen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clk := clockwork.NewFakeClock()
	var sick atomic.Value
	sick.Store("")
	healthy := func() error {
		if s := sick.Load().(string); s != "" {
			return errors.New(s)
		}
		return nil
	}
	done := make(chan error)
	go func() {
		done <- At(path).RunWatchdog(ctx, WatchdogOptions{Interval: 20 * time.Second, Healthy: healthy, Clock: clk})
	}()
	tick := func() {
		if err := clk.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second)
	}
	steps := []struct {
		sick string
		want string
	}{
		{"", "WATCHDOG=1"},
		{"", "WATCHDOG=1"},
		{"encoder stalled 12s", "STATUS=unhealthy: encoder stalled 12s"},
		{"encoder stalled 22s", "STATUS=unhealthy: encoder stalled 22s"},
		{"", "WATCHDOG=1\nSTATUS=running"},
		{"", "WATCHDOG=1"},
	}
	for i, s := range steps {
		sick.Store(s.sick)
		tick()
		if got := recv(); got != s.want {
			t.Fatalf("tick %d: got %q, want %q", i, got, s.want)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if At(path).RunWatchdog(ctx, WatchdogOptions{}) == nil {
		t.Fatal("watchdog without health func accepted")
	}
}
