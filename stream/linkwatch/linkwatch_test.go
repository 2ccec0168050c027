package linkwatch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// inNetns opens a watcher inside a fresh named network namespace, so the
// test can change links without touching the machine's own.
func inNetns(t *testing.T) (string, *Watcher) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for ip netns (CI runs as root)")
	}
	name := fmt.Sprintf("cblw%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(orig)
	target, err := unix.Open("/var/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	w, werr := Open()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		panic("cannot return to the original network namespace: " + err.Error())
	}
	if werr != nil {
		t.Fatal(werr)
	}
	return name, w
}

func TestLinkComesBack(t *testing.T) {
	ns, w := inNetns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []Event
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, 0, func(e Event) {
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
		})
	}()
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	// veth rather than dummy: containers often lack the dummy module.
	ip("link", "add", "d0", "type", "veth", "peer", "name", "d1")
	ip("link", "set", "d1", "up")
	kinds := func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		m := map[string]bool{}
		for _, e := range got {
			m[e.Kind] = true
		}
		return m
	}
	time.Sleep(200 * time.Millisecond)
	if k := kinds(); k["link-up"] {
		t.Errorf("link-up reported for a link that is still down: %v", got)
	}
	start := time.Now()
	ip("link", "set", "d0", "up")
	ip("addr", "add", "10.77.9.1/24", "dev", "d0")
	for {
		k := kinds()
		if k["link-up"] && k["addr"] && k["route"] {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("events %v, want link-up, addr and route", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("noticed within %v", time.Since(start).Round(time.Millisecond))
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestCloseStopsRun(t *testing.T) {
	_, w := inNetns(t)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), time.Second, func(Event) {}) }()
	time.Sleep(50 * time.Millisecond)
	_ = w.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}
