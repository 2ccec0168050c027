package linkemu

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenTUN creates a TUN device (IP packets, no packet-info header) called
// name inside the network namespace netns — a name under /var/run/netns,
// a path to a namespace file, or "" for the caller's — and returns its
// non-blocking fd. The device lives as long as the fd: closing it (or
// the process dying) removes the device, so a killed run leaves none.
func OpenTUN(netns, name string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	res := make(chan result, 1)
	go func() {
		// The thread is never unlocked: it may be left in netns, so the
		// runtime must end it with this goroutine instead of reusing it.
		runtime.LockOSThread()
		f, err := openTUNHere(netns, name)
		res <- result{f, err}
	}()
	r := <-res
	if r.err != nil {
		return nil, fmt.Errorf("linkemu: tun %s in %q: %w", name, netns, r.err)
	}
	return r.f, nil
}

func openTUNHere(netns, name string) (*os.File, error) {
	if netns != "" {
		path := netns
		if !strings.Contains(path, "/") {
			path = "/var/run/netns/" + netns
		}
		nsfd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open namespace: %w", err)
		}
		err = unix.Setns(nsfd, unix.CLONE_NEWNET)
		unix.Close(nsfd)
		if err != nil {
			return nil, fmt.Errorf("setns: %w", err)
		}
	}
	// The device is created in the namespace current at open time.
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	// Non-blocking, so the runtime poller serves reads and Close
	// interrupts them.
	return os.NewFile(uintptr(fd), "tun:"+name), nil
}
