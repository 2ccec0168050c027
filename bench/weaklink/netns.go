// Package weaklink is the weak-link test bench: the box and the receivers
// (nginx-rtmp and a WHIP endpoint) in two network namespaces joined by a
// veth pair, the box's uplink shaped with tc (tbf for capacity, netem for
// delay, jitter and loss) and changed on a schedule per profile. It runs
// cunbo's pipeline and a plain fixed-bitrate ffmpeg baseline through the
// same profiles and measures, from the receivers, stalls, delivered
// bitrate, time to adapt and time to resume, and from the box, gaps in the
// local recording. It needs root (ip netns, tc).
package weaklink

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Net is the two namespaces and the link between them.
type Net struct {
	Box, Rx       string // namespace names
	BoxDev, RxDev string
	BoxIP, RxIP   string
	// NoNetem is set when the kernel lacks sch_netem: delay, jitter and
	// loss are then not applied.
	NoNetem bool
	shaped  bool
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
func SetupNet(id int) (*Net, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("weaklink: needs root for ip netns and tc")
	}
	n := &Net{
		Box: fmt.Sprintf("cbbox%d", id), Rx: fmt.Sprintf("cbrx%d", id),
		BoxDev: fmt.Sprintf("vbox%d", id), RxDev: fmt.Sprintf("vrx%d", id),
		BoxIP: fmt.Sprintf("10.211.%d.1", id), RxIP: fmt.Sprintf("10.211.%d.2", id),
	}
	n.Close() // leftovers of a killed run
	steps := [][]string{
		{"netns", "add", n.Box},
		{"netns", "add", n.Rx},
		{"link", "add", n.BoxDev, "netns", n.Box, "type", "veth", "peer", "name", n.RxDev, "netns", n.Rx},
		{"-n", n.Box, "addr", "add", n.BoxIP + "/24", "dev", n.BoxDev},
		{"-n", n.Rx, "addr", "add", n.RxIP + "/24", "dev", n.RxDev},
		{"-n", n.Box, "link", "set", "lo", "up"},
		{"-n", n.Rx, "link", "set", "lo", "up"},
		{"-n", n.Box, "link", "set", n.BoxDev, "up"},
		{"-n", n.Rx, "link", "set", n.RxDev, "up"},
	}
	for _, s := range steps {
		if err := run("ip", s...); err != nil {
			n.Close()
			return nil, fmt.Errorf("weaklink: %w", err)
		}
	}
	return n, nil
}

// Close deletes both namespaces (and so the veth pair).
func (n *Net) Close() {
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

// SetLink takes the box's link down or up, as losing coverage does.
func (n *Net) SetLink(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return run("ip", "-n", n.Box, "link", "set", n.BoxDev, state)
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
