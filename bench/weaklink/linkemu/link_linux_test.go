package linkemu

import (
	"encoding/binary"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// packetPair is a stand-in for a TUN device: a SOCK_SEQPACKET pair keeps
// packet boundaries; dev goes to the link, app plays the kernel's side.
func packetPair(t testing.TB) (dev, app *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	dev, app = os.NewFile(uintptr(fds[0]), "dev"), os.NewFile(uintptr(fds[1]), "app")
	t.Cleanup(func() { app.Close() })
	return dev, app
}

func newTestLink(t testing.TB, c Config) (l *Link, box, rx *os.File) {
	t.Helper()
	boxDev, box := packetPair(t)
	rxDev, rx := packetPair(t)
	if c.Seed == 0 {
		c.Seed = 7
	}
	l, err := New(boxDev, rxDev, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, box, rx
}

func send(t testing.TB, f *os.File, seq uint32, size int) {
	t.Helper()
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, seq)
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// recv reads one packet's sequence number, or returns false after d.
func recv(t testing.TB, f *os.File, d time.Duration) (uint32, bool) {
	t.Helper()
	b := make([]byte, 2048)
	_ = f.SetReadDeadline(time.Now().Add(d))
	n, err := f.Read(b)
	if err != nil {
		if os.IsTimeout(err) {
			return 0, false
		}
		t.Fatal(err)
	}
	if n < 4 {
		t.Fatalf("short packet of %d bytes", n)
	}
	return binary.BigEndian.Uint32(b), true
}

func waitStats(t *testing.T, l *Link, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := l.Stats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters stuck at %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLinkDelayNeverEarlyAndInOrder(t *testing.T) {
	tests := []struct {
		name  string
		shape Shape
		min   time.Duration // no packet may arrive sooner
	}{
		{"delay", Shape{Delay: 30 * ms}, 30 * ms},
		{"delay and jitter", Shape{Delay: 30 * ms, Jitter: 15 * ms}, 0},
		{"rate", Shape{RateKbps: 2000, QueueBytes: 1 << 20}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, box, rx := newTestLink(t, Config{Up: tt.shape})
			const n = 200
			start := time.Now()
			for i := range n {
				send(t, box, uint32(i), 500)
			}
			for i := range n {
				seq, ok := recv(t, rx, 5*time.Second)
				if !ok {
					t.Fatalf("packet %d never arrived; %+v", i, l.Stats())
				}
				if seq != uint32(i) {
					t.Fatalf("got packet %d in place %d", seq, i)
				}
				if i == 0 && time.Since(start) < tt.min {
					t.Errorf("first packet after %v, before the %v delay", time.Since(start), tt.min)
				}
			}
			if tt.shape.RateKbps > 0 {
				// 200 × 500 B at 2 Mbit/s is 400 ms on the wire.
				if el := time.Since(start); el < 390*ms {
					t.Errorf("200 packets through 2 Mbit/s in %v", el)
				}
			}
			waitStats(t, l, func(s Stats) bool { return s.Up.Forwarded == n })
			// The other direction passes through.
			send(t, rx, 99, 100)
			if seq, ok := recv(t, box, 2*time.Second); !ok || seq != 99 {
				t.Errorf("down direction: got %d, %v", seq, ok)
			}
		})
	}
}

func TestLinkDropsWhileDown(t *testing.T) {
	l, box, rx := newTestLink(t, Config{Up: Shape{Delay: 200 * ms}})
	for i := range 5 {
		send(t, box, uint32(i), 100) // queued in the delay line
	}
	waitStats(t, l, func(s Stats) bool { return s.Up.Forwarded+s.Up.DownDropped == 0 && l.queued(Up) == 5 })
	l.SetLinkUp(false)
	for i := range 5 {
		send(t, box, uint32(10+i), 100)
		send(t, rx, uint32(20+i), 100)
	}
	waitStats(t, l, func(s Stats) bool { return s.Up.DownDropped == 10 && s.Down.DownDropped == 5 })
	if _, ok := recv(t, rx, 300*ms); ok {
		t.Error("a packet crossed a down link")
	}
	l.SetLinkUp(true)
	send(t, box, 30, 100)
	if seq, ok := recv(t, rx, 2*time.Second); !ok || seq != 30 {
		t.Errorf("after link up got %d, %v", seq, ok)
	}
	waitStats(t, l, func(s Stats) bool { return s.Up.Forwarded == 1 && s.Up.DownDropped == 10 })
}

func TestLinkLossAndQueueCounters(t *testing.T) {
	tests := []struct {
		name  string
		shape Shape
		slots int
		n     int
		ok    func(DirStats) bool
	}{
		{"half lost", Shape{LossPct: 50}, 0, 1000, func(s DirStats) bool { return s.Lost > 400 && s.Lost < 600 }},
		// 1000 B at 100 kbit/s is 80 ms: a 3000 B queue takes 3 of a burst.
		{"tail drop", Shape{RateKbps: 100, QueueBytes: 3000}, 0, 10, func(s DirStats) bool { return s.QueueDropped >= 5 }},
		{"ring full", Shape{Delay: time.Second}, 8, 50, func(s DirStats) bool { return s.QueueDropped == 50-8 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, box, _ := newTestLink(t, Config{Up: tt.shape, Slots: tt.slots})
			for i := range tt.n {
				send(t, box, uint32(i), 1000)
				if i%8 == 7 && tt.shape.LossPct > 0 {
					time.Sleep(ms) // stay within the socket buffer
				}
			}
			s := waitStats(t, l, func(s Stats) bool {
				// The receiving end is not read: packets may wait in the ring.
				return s.Up.Forwarded+uint64(l.queued(Up))+s.Up.Lost+s.Up.QueueDropped == uint64(tt.n)
			})
			if !tt.ok(s.Up) {
				t.Errorf("%+v", s.Up)
			}
		})
	}
}

// queued is for tests: packets in one direction's delay line.
func (l *Link) queued(d Direction) int {
	l.dirs[d].mu.Lock()
	defer l.dirs[d].mu.Unlock()
	return l.dirs[d].count
}

func TestSetShapeValidates(t *testing.T) {
	l, _, _ := newTestLink(t, Config{})
	if err := l.SetShape(Up, Shape{LossPct: 200}); err == nil {
		t.Error("loss 200% accepted")
	}
	if err := l.SetShape(Direction(5), Shape{}); err == nil {
		t.Error("direction 5 accepted")
	}
	if _, err := New(nil, nil, Config{}); err == nil {
		t.Error("nil devices accepted")
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	fdsBefore := openFDs(t)
	for range 20 {
		boxDev, box := packetPair(t)
		rxDev, rx := packetPair(t)
		l, err := New(boxDev, rxDev, Config{Up: Shape{Delay: 10 * ms}})
		if err != nil {
			t.Fatal(err)
		}
		send(t, box, 1, 100)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal("second Close:", err)
		}
		box.Close()
		rx.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before || openFDs(t) > fdsBefore {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d → %d, fds %d → %d", before, runtime.NumGoroutine(), fdsBefore, openFDs(t))
		}
		time.Sleep(10 * ms)
	}
}

func openFDs(t testing.TB) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestForwardingDoesNotAllocate: the steady-state path reuses its slots.
func TestForwardingDoesNotAllocate(t *testing.T) {
	_, box, rx := newTestLink(t, Config{Up: Shape{Delay: 100 * time.Microsecond, Jitter: 50 * time.Microsecond, RateKbps: 1_000_000}})
	pkt, buf := make([]byte, 1200), make([]byte, 2048)
	roundTrip := func() {
		if _, err := box.Write(pkt); err != nil {
			t.Fatal(err)
		}
		if _, err := rx.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		roundTrip() // let the poller and timers settle
	}
	if a := testing.AllocsPerRun(500, roundTrip); a > 0.05 {
		t.Errorf("%.2f allocations per packet", a)
	}
}

// BenchmarkForward is the cost of one packet through the link, 32 in
// flight at a time.
func BenchmarkForward(b *testing.B) {
	for _, bc := range []struct {
		name  string
		shape Shape
	}{
		{"passthrough", Shape{}},
		{"shaped", Shape{Delay: 50 * time.Microsecond, Jitter: 20 * time.Microsecond, RateKbps: 10_000_000, QueueBytes: 1 << 20}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, box, rx := newTestLink(b, Config{Up: bc.shape})
			pkt, buf := make([]byte, 1200), make([]byte, 2048)
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			b.ResetTimer()
			const window = 32
			for i := 0; i < b.N; i += window {
				w := min(window, b.N-i)
				for range w {
					if _, err := box.Write(pkt); err != nil {
						b.Fatal(err)
					}
				}
				for range w {
					if _, err := rx.Read(buf); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
