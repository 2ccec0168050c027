package weaklink

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/linkwatch"
)

// These tests drive the userspace emulator through real namespaces, TUN
// devices and the kernel's UDP and TCP. They need root; CI runs them as
// root (make test-root reruns them through sudo otherwise).

const ms = time.Millisecond

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for ip netns, TUN and tc (CI runs as root)")
	}
}

// netID keeps concurrent `go test` runs of this package on one machine
// apart; TestShortStepDown uses 200..249.
func netID(offset int) int { return 100 + (os.Getpid()%20)*4 + offset }

func userspaceNet(t *testing.T, offset int, s Shape) *Net {
	t.Helper()
	n, err := SetupNetWith(netID(offset), NetOptions{Userspace: true, Seed: 20240601})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	if n.Emulator != EmulatorLinkemu || n.Emu == nil || n.NoNetem {
		t.Fatalf("emulator %q, NoNetem %v", n.Emulator, n.NoNetem)
	}
	if err := n.Shape(s); err != nil {
		t.Fatal(err)
	}
	return n
}

func listenUDP(t *testing.T, ns, ip string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := Do(ns, func() error {
		var err error
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	t.Cleanup(func() { c.Close() })
	return c
}

// echo answers every datagram on c and records the sequence numbers (the
// first 4 bytes) in the order they arrived.
type echo struct {
	mu   sync.Mutex
	seqs []uint32
}

func startEcho(c *net.UDPConn) *echo {
	e := &echo{}
	go func() {
		b := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(b)
			if err != nil {
				return
			}
			if n >= 4 {
				e.mu.Lock()
				e.seqs = append(e.seqs, binary.BigEndian.Uint32(b))
				e.mu.Unlock()
			}
			_, _ = c.WriteToUDP(b[:n], from)
		}
	}()
	return e
}

func (e *echo) received() []uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.seqs)
}

// pingUDP sends count numbered datagrams every gap and returns the round
// trip of each one that came back.
func pingUDP(t *testing.T, c *net.UDPConn, to *net.UDPAddr, count int, gap time.Duration) []time.Duration {
	t.Helper()
	sent := make([]time.Time, count)
	rtts := make(chan time.Duration, count)
	go func() {
		b := make([]byte, 64)
		for {
			n, err := c.Read(b)
			if err != nil {
				close(rtts)
				return
			}
			if seq := binary.BigEndian.Uint32(b); n >= 4 && int(seq) < count {
				rtts <- time.Since(sent[seq])
			}
		}
	}()
	b := make([]byte, 64)
	for i := range count {
		binary.BigEndian.PutUint32(b, uint32(i))
		sent[i] = time.Now()
		if _, err := c.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(gap)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	var out []time.Duration
	for r := range rtts {
		out = append(out, r)
	}
	_ = c.SetReadDeadline(time.Time{})
	slices.Sort(out)
	return out
}

func TestLinkemuRoundTrip(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name   string
		shape  Shape
		spread time.Duration // p90 − p10 at least
		over   time.Duration // the median may exceed the delay by this
	}{
		{"80ms", Shape{RateKbps: 100000, Delay: 80 * ms}, 0, 6 * ms},
		// Packets that may not overtake a late one ahead raise the
		// median by about 3 ms at this rate.
		{"80±20ms", Shape{RateKbps: 100000, Delay: 80 * ms, Jitter: 20 * ms}, 25 * ms, 10 * ms},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := userspaceNet(t, i, tt.shape)
			srv := listenUDP(t, n.Rx, n.RxIP)
			e := startEcho(srv)
			cli := listenUDP(t, n.Box, n.BoxIP)
			to := srv.LocalAddr().(*net.UDPAddr)
			rtts := pingUDP(t, cli, to, 60, 50*ms)
			if len(rtts) != 60 {
				t.Fatalf("%d of 60 echoes came back; %+v", len(rtts), n.Emu.Stats())
			}
			med, p10, p90 := rtts[30], rtts[6], rtts[54]
			t.Logf("RTT median %v, p10 %v, p90 %v", med, p10, p90)
			if med < tt.shape.Delay-1*ms || med > tt.shape.Delay+tt.over {
				t.Errorf("median RTT %v, want %v (+ a few ms)", med, tt.shape.Delay)
			}
			if tt.shape.Jitter == 0 && rtts[0] < tt.shape.Delay {
				t.Errorf("a packet came back in %v, under the %v delay", rtts[0], tt.shape.Delay)
			}
			if p90-p10 < tt.spread {
				t.Errorf("RTT spread p10..p90 %v, want at least %v", p90-p10, tt.spread)
			}
			// A numbered burst arrives in order, jitter or not.
			before := len(e.received())
			b := make([]byte, 200)
			for k := range 300 {
				binary.BigEndian.PutUint32(b, uint32(1000+k))
				if _, err := cli.WriteToUDP(b, to); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for len(e.received()) < before+300 && time.Now().Before(deadline) {
				time.Sleep(10 * ms)
			}
			burst := e.received()[before:]
			if len(burst) != 300 || !slices.IsSorted(burst) {
				t.Errorf("burst of 300 arrived as %d packets, in order: %v", len(burst), slices.IsSorted(burst))
			}
		})
	}
}

func TestLinkemuLoss(t *testing.T) {
	needRoot(t)
	const count = 5000
	n := userspaceNet(t, 0, Shape{RateKbps: 100000, Delay: 10 * ms, LossPct: 3})
	srv := listenUDP(t, n.Rx, n.RxIP)
	cli := listenUDP(t, n.Box, n.BoxIP)
	got := make(chan int)
	go func() {
		seen := map[uint32]bool{}
		b := make([]byte, 64)
		for {
			if _, err := srv.Read(b); err != nil {
				got <- len(seen)
				return
			}
			seen[binary.BigEndian.Uint32(b)] = true
		}
	}()
	b := make([]byte, 64)
	to := srv.LocalAddr().(*net.UDPAddr)
	for i := range count {
		binary.BigEndian.PutUint32(b, uint32(i))
		if _, err := cli.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(2 * ms) // stay well inside the TUN queue
		}
	}
	time.Sleep(500 * ms)
	_ = srv.SetReadDeadline(time.Now())
	received := <-got
	loss := 100 * float64(count-received) / count
	st := n.Emu.Stats().Up
	t.Logf("loss %.2f%% (%d of %d), emulator %+v", loss, count-received, count, st)
	if loss < 2 || loss > 4 {
		t.Errorf("measured loss %.2f%%, want 3 ± 1", loss)
	}
	if st.Lost != uint64(count-received) || st.QueueDropped != 0 {
		t.Errorf("emulator counted %d lost, %d queue drops; the receiver missed %d", st.Lost, st.QueueDropped, count-received)
	}
}

// TestLinkemuTCP: a TCP transfer across the rural 4G profile (tbf 2 Mbit/s,
// 80±20 ms, 1 % loss) completes at a rate a real link would give.
func TestLinkemuTCP(t *testing.T) {
	needRoot(t)
	const size = 768 << 10
	n := userspaceNet(t, 0, rural4G)
	var ln net.Listener
	if err := Do(n.Rx, func() error {
		var err error
		ln, err = net.Listen("tcp4", n.RxIP+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		d   time.Duration
		err error
	}
	res := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(18 * time.Second))
		nr, err := io.Copy(io.Discard, c)
		res <- result{nr, time.Since(start), err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 18*time.Second)
	defer cancel()
	c, err := Dialer(n.Box)(ctx, "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	r := <-res
	if r.err != nil || r.n != size {
		t.Fatalf("received %d of %d bytes: %v; emulator %+v", r.n, size, r.err, n.Emu.Stats())
	}
	mbps := float64(r.n*8) / r.d.Seconds() / 1e6
	t.Logf("TCP %d KiB in %v: %.2f Mbit/s; emulator %+v", size>>10, r.d.Round(ms), mbps, n.Emu.Stats().Up)
	if mbps <= 0.5 || mbps > 2.1 {
		t.Errorf("TCP rate %.2f Mbit/s over a 2 Mbit/s link with 1%% loss", mbps)
	}
	if n.Emu.Stats().Up.Lost == 0 {
		t.Error("no packet was lost at 1% loss")
	}
}

// TestLinkemuLinkDownUp: down drops both ways, the box's rtnetlink sees the
// device come back, and traffic resumes.
func TestLinkemuLinkDownUp(t *testing.T) {
	needRoot(t)
	n := userspaceNet(t, 0, Shape{RateKbps: 100000, Delay: 20 * ms})
	srv := listenUDP(t, n.Rx, n.RxIP)
	startEcho(srv)
	cli := listenUDP(t, n.Box, n.BoxIP)
	to := srv.LocalAddr().(*net.UDPAddr)
	if rtts := pingUDP(t, cli, to, 3, 10*ms); len(rtts) != 3 {
		t.Fatalf("link not working before the outage: %d echoes", len(rtts))
	}

	var w *linkwatch.Watcher
	var ifindex int
	if err := Do(n.Box, func() error {
		ifi, err := net.InterfaceByName(n.BoxDev)
		if err != nil {
			return err
		}
		ifindex = ifi.Index
		w, err = linkwatch.Open()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ups := make(chan linkwatch.Event, 8)
	go func() {
		_ = w.Run(ctx, 0, func(ev linkwatch.Event) {
			if ev.Kind == "link-up" && ev.Index == ifindex {
				ups <- ev
			}
		})
	}()

	if err := n.SetLink(false); err != nil {
		t.Fatal(err)
	}
	// The receivers keep sending towards the box; the emulator drops it.
	for i := range 20 {
		b := []byte{0, 0, 0, byte(i)}
		if _, err := srv.WriteToUDP(b, cli.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
	}
	// The box cannot even send: its device is down.
	if _, err := cli.WriteToUDP([]byte{0, 0, 0, 1}, to); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Logf("send on a down link: %v", err)
	}
	_ = cli.SetReadDeadline(time.Now().Add(300 * ms))
	if _, err := cli.Read(make([]byte, 64)); err == nil {
		t.Error("the box received a packet while its link was down")
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	if st := n.Emu.Stats(); st.Down.DownDropped < 20 {
		t.Errorf("emulator dropped %d packets towards the box while down, want ≥ 20", st.Down.DownDropped)
	}
	select {
	case ev := <-ups:
		t.Fatalf("link-up event while down: %+v", ev)
	default:
	}

	if err := n.SetLink(true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ups:
	case <-time.After(5 * time.Second):
		t.Fatal("rtnetlink never reported the box's device up")
	}
	_ = cli.SetReadDeadline(time.Time{})
	if rtts := pingUDP(t, cli, to, 5, 10*ms); len(rtts) != 5 {
		t.Errorf("after link up %d of 5 echoes came back; %+v", len(rtts), n.Emu.Stats())
	}
}

// TestSetupCloseLeavesNothing: twenty setups and teardowns leave no
// goroutines, fds or namespaces behind, and a second Close is harmless.
func TestSetupCloseLeavesNothing(t *testing.T) {
	needRoot(t)
	// Warm up what lives for the process (poller, signal handling).
	n, err := SetupNetWith(netID(0), NetOptions{Userspace: true})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	for range 20 {
		n, err := SetupNetWith(netID(0), NetOptions{Userspace: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Shape(rural4G); err != nil {
			t.Fatal(err)
		}
		n.Close()
		n.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines || openFDs(t) > fds {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d → %d, fds %d → %d", goroutines, runtime.NumGoroutine(), fds, openFDs(t))
		}
		time.Sleep(10 * ms)
	}
	if _, err := os.Stat("/var/run/netns/" + n.Box); !os.IsNotExist(err) {
		t.Errorf("namespace %s left behind: %v", n.Box, err)
	}
}

// TestSetupNetPicksAnEmulator: the default path always emulates delay and
// loss, with netem or without.
func TestSetupNetPicksAnEmulator(t *testing.T) {
	needRoot(t)
	n, err := SetupNet(netID(1))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Shape(threeG); err != nil {
		t.Fatal(err)
	}
	t.Logf("emulator: %s", n.Emulator)
	if n.NoNetem || (n.Emulator == EmulatorLinkemu) != (n.Emu != nil) || n.Emulator == "" {
		t.Errorf("emulator %q, Emu %v, NoNetem %v", n.Emulator, n.Emu != nil, n.NoNetem)
	}
	if _, err := SetupNet(0); err == nil {
		t.Error("network id 0 accepted")
	}
}

func openFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}
