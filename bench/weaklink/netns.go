// Package weaklink is the weak-link test bench: the box and the receivers
// (nginx-rtmp and a WHIP endpoint) in two network namespaces joined by a
// veth pair, the box's uplink shaped with tc (tbf for capacity, netem for
// delay, jitter and loss) and changed on a schedule per profile. Where the
// kernel has no sch_netem the namespaces are joined by a pair of TUN
// devices instead, and the userspace emulator in linkemu forwards between
// them and applies delay, jitter and loss (tbf still sets capacity). It runs
// cunbo's pipeline and a plain fixed-bitrate ffmpeg baseline through the
// same profiles and measures, from the receivers, stalls, delivered
// bitrate, time to adapt and time to resume, and from the box, gaps in the
// local recording. It needs root (ip netns, tc).
package weaklink

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cunbo/cunbo/bench/weaklink/linkemu"
)

// Emulators a Net can use for delay, jitter and loss.
const (
	EmulatorNetem    = "netem"
	EmulatorLinkemu  = "userspace (linkemu)"
	emulatorOverride = "WEAKLINK_EMULATOR" // "linkemu" forces the userspace one
)

// Net is the two namespaces and the link between them.
type Net struct {
	Box, Rx       string // namespace names
	BoxDev, RxDev string
	BoxIP, RxIP   string
	// Emulator says what applies delay, jitter and loss: EmulatorNetem
	// or EmulatorLinkemu.
	Emulator string
	// NoNetem is set when neither emulator could apply delay, jitter and
	// loss (only capacity and outages were emulated).
	NoNetem bool
	// Emu is the userspace emulator on the TUN path, nil with netem.
	Emu    *linkemu.Link
	shaped bool
}

// NetOptions tune SetupNetWith.
type NetOptions struct {
	// Userspace uses the TUN pair and linkemu even where netem works.
	Userspace bool
	// Seed makes linkemu's loss and jitter repeatable (0: from the clock).
	Seed   uint64
	Logger *slog.Logger
}

// Shape is the box's uplink.
type Shape struct {
	RateKbps      int
	Delay, Jitter time.Duration
	LossPct       float64
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// SetupNet creates the namespaces; id keeps parallel runs apart (1..250).
// The link is a veth pair shaped by tc where the kernel has sch_netem, a
// TUN pair forwarded by linkemu otherwise (or when WEAKLINK_EMULATOR is
// "linkemu").
func SetupNet(id int) (*Net, error) {
	return SetupNetWith(id, NetOptions{Userspace: os.Getenv(emulatorOverride) == "linkemu"})
}

// SetupNetWith is SetupNet with options.
func SetupNetWith(id int, o NetOptions) (*Net, error) {
	if id < 1 || id > 250 {
		return nil, fmt.Errorf("weaklink: network id %d is not within 1..250", id)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("weaklink: needs root for ip netns and tc")
	}
	n := &Net{
		Box: fmt.Sprintf("cbbox%d", id), Rx: fmt.Sprintf("cbrx%d", id),
		BoxDev: fmt.Sprintf("vbox%d", id), RxDev: fmt.Sprintf("vrx%d", id),
		BoxIP: fmt.Sprintf("10.211.%d.1", id), RxIP: fmt.Sprintf("10.211.%d.2", id),
	}
	// Leftovers of a killed run: its namespaces (its TUN devices died
	// with its fds).
	n.Close()
	if err := n.setup(o); err != nil {
		n.Close()
		return nil, fmt.Errorf("weaklink: %w", err)
	}
	return n, nil
}

func (n *Net) setup(o NetOptions) error {
	for _, s := range [][]string{
		{"netns", "add", n.Box},
		{"netns", "add", n.Rx},
		{"-n", n.Box, "link", "set", "lo", "up"},
		{"-n", n.Rx, "link", "set", "lo", "up"},
	} {
		if err := run("ip", s...); err != nil {
			return err
		}
	}
	var steps [][]string
	if !o.Userspace && netemWorks(n.Box) {
		n.Emulator = EmulatorNetem
		steps = [][]string{
			{"link", "add", n.BoxDev, "netns", n.Box, "type", "veth", "peer", "name", n.RxDev, "netns", n.Rx},
		}
	} else {
		n.Emulator = EmulatorLinkemu
		boxTUN, err := linkemu.OpenTUN(n.Box, n.BoxDev)
		if err != nil {
			return err
		}
		rxTUN, err := linkemu.OpenTUN(n.Rx, n.RxDev)
		if err != nil {
			boxTUN.Close()
			return err
		}
		n.Emu, err = linkemu.New(boxTUN, rxTUN, linkemu.Config{Seed: o.Seed, Logger: o.Logger})
		if err != nil {
			boxTUN.Close()
			rxTUN.Close()
			return err
		}
		// No IPv6 link-local addresses: their router solicitations and
		// MLD reports would be the only traffic not the bench's own.
		steps = [][]string{
			{"-n", n.Box, "link", "set", n.BoxDev, "addrgenmode", "none"},
			{"-n", n.Rx, "link", "set", n.RxDev, "addrgenmode", "none"},
		}
	}
	steps = append(steps,
		[]string{"-n", n.Box, "addr", "add", n.BoxIP + "/24", "dev", n.BoxDev},
		[]string{"-n", n.Rx, "addr", "add", n.RxIP + "/24", "dev", n.RxDev},
		[]string{"-n", n.Box, "link", "set", n.BoxDev, "up"},
		[]string{"-n", n.Rx, "link", "set", n.RxDev, "up"},
	)
	for _, s := range steps {
		if err := run("ip", s...); err != nil {
			return err
		}
	}
	return nil
}

// netemWorks tries a netem qdisc on ns's loopback and removes it again.
func netemWorks(ns string) bool {
	if run("tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "handle", "1:", "netem", "delay", "0ms") != nil {
		return false
	}
	_ = run("tc", "-n", ns, "qdisc", "del", "dev", "lo", "root")
	return true
}

// Close stops the emulator (closing its TUN devices) and deletes both
// namespaces (and so the veth pair).
func (n *Net) Close() {
	if n.Emu != nil {
		_ = n.Emu.Close()
		n.Emu = nil
	}
	_ = exec.Command("ip", "netns", "del", n.Box).Run()
	_ = exec.Command("ip", "netns", "del", n.Rx).Run()
}

// Shape sets the box's uplink: a token bucket for capacity with a queue of
// about 300 ms, then netem for delay, jitter and loss.
func (n *Net) Shape(s Shape) error {
	burst := max(16000, s.RateKbps*1000/8/50) // 20 ms of data, at least a few MTUs
	// "change" keeps what is queued, as a real link slowing down would;
	// "replace" would drop it.
	verb := "replace"
	if n.shaped {
		verb = "change"
	}
	n.shaped = true
	if err := run("tc", "-n", n.Box, "qdisc", verb, "dev", n.BoxDev, "root", "handle", "1:", "tbf",
		"rate", fmt.Sprintf("%dkbit", s.RateKbps), "burst", fmt.Sprint(burst), "latency", "300ms"); err != nil {
		return err
	}
	if n.Emu != nil {
		// tbf above holds the queue; linkemu adds what follows it.
		return n.Emu.SetShape(linkemu.Up, linkemu.Shape{Delay: s.Delay, Jitter: s.Jitter, LossPct: s.LossPct})
	}
	if s.Delay == 0 && s.LossPct == 0 || n.NoNetem {
		return nil
	}
	args := []string{"-n", n.Box, "qdisc", "replace", "dev", n.BoxDev, "parent", "1:1", "handle", "10:", "netem", "limit", "10000"}
	if s.Delay > 0 {
		args = append(args, "delay", fmt.Sprintf("%dms", s.Delay.Milliseconds()))
		if s.Jitter > 0 {
			args = append(args, fmt.Sprintf("%dms", s.Jitter.Milliseconds()), "distribution", "normal")
		}
	}
	if s.LossPct > 0 {
		args = append(args, "loss", fmt.Sprintf("%g%%", s.LossPct))
	}
	err := run("tc", args...)
	if err != nil && strings.Contains(err.Error(), "qdisc kind is unknown") {
		// Some VM kernels ship tbf but not sch_netem. Capacity and
		// outages still apply; the report says delay and loss did not.
		n.NoNetem = true
		return nil
	}
	return err
}

// SetLink takes the box's link down or up, as losing coverage does. The
// box sees the device change state over rtnetlink either way; with linkemu
// the emulator also drops everything in flight and arriving while down.
func (n *Net) SetLink(up bool) error {
	state := "down"
	if up {
		state = "up"
	} else if n.Emu != nil {
		n.Emu.SetLinkUp(false)
	}
	if err := run("ip", "-n", n.Box, "link", "set", n.BoxDev, state); err != nil {
		return err
	}
	if up && n.Emu != nil {
		n.Emu.SetLinkUp(true)
	}
	return nil
}

// Do runs fn with the calling OS thread inside namespace ns: sockets fn
// creates stay in ns for their whole life.
func Do(ns string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(orig)
	target, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	ferr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// A thread stuck in the wrong namespace must not be reused.
		panic("weaklink: cannot leave namespace " + ns + ": " + err.Error())
	}
	return ferr
}

// Dialer returns a DialContext that opens connections inside ns.
func Dialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := Do(ns, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}
