// Package linkemu is a userspace link emulator: it forwards IP packets
// between two packet devices (normally a pair of TUN devices, one in each
// of two network namespaces) and applies one-way delay, jitter without
// reordering, random loss and an optional rate limit with a tail-drop
// queue. It stands in for sch_netem on kernels that lack it.
//
// The forwarding path does not allocate per packet: each direction owns a
// ring of preallocated packet slots, and since packets never overtake
// each other the ring is also the delay line.
package linkemu

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Direction names one half of the link.
type Direction int

const (
	// Up is box → receivers: packets read from the box's device and
	// written to the receivers' device.
	Up Direction = iota
	// Down is receivers → box.
	Down
)

func (d Direction) String() string {
	if d == Up {
		return "up"
	}
	return "down"
}

// Config sets a link up. The zero value forwards unchanged.
type Config struct {
	Up, Down Shape
	// Seed makes loss and jitter repeatable; 0 seeds from the clock.
	Seed uint64
	// Slots is how many packets each direction can hold in flight
	// (default 1024); beyond that packets are dropped as queue drops.
	Slots int
	// MaxPacket is the largest packet read (default 2048; the devices'
	// MTU must not exceed it).
	MaxPacket int
	Logger    *slog.Logger
}

// DirStats counts one direction's packets.
type DirStats struct {
	Forwarded    uint64 // written to the far device
	Lost         uint64 // dropped by random loss
	QueueDropped uint64 // dropped by the rate limiter's queue or a full ring
	DownDropped  uint64 // dropped while the link was down
	WriteErrors  uint64 // the far device refused the packet
}

// Stats counts both directions.
type Stats struct{ Up, Down DirStats }

// Link forwards packets between two devices. Its methods are safe for
// concurrent use.
type Link struct {
	dirs  [2]*direction
	box   *os.File
	rx    *os.File
	epoch time.Time
	done  chan struct{}
	wg    sync.WaitGroup
	log   *slog.Logger

	closeOnce sync.Once
}

type slot struct {
	buf []byte
	n   int
	at  time.Duration
}

// direction is one half: a reader that stamps packets into the ring and a
// writer that releases them when due.
type direction struct {
	name     Direction
	src, dst *os.File
	wake     chan struct{}

	mu      sync.Mutex
	sched   *scheduler
	slots   []slot
	head    int // next to write
	count   int // queued
	down    bool
	stats   DirStats
	scratch []byte // read target when the ring is full
}

// New starts forwarding between box and rx, which must be packet devices
// opened non-blocking (TUN fds from OpenTUN, or datagram sockets in
// tests). The link owns them and closes them on Close.
func New(box, rx *os.File, c Config) (*Link, error) {
	if box == nil || rx == nil {
		return nil, errors.New("linkemu: nil device")
	}
	if err := c.Up.Validate(); err != nil {
		return nil, fmt.Errorf("up: %w", err)
	}
	if err := c.Down.Validate(); err != nil {
		return nil, fmt.Errorf("down: %w", err)
	}
	if c.Slots <= 0 {
		c.Slots = 1024
	}
	if c.MaxPacket <= 0 {
		c.MaxPacket = 2048
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Link{box: box, rx: rx, epoch: time.Now(), done: make(chan struct{}), log: log}
	l.dirs[Up] = newDirection(Up, box, rx, c.Up, c.Seed, c.Slots, c.MaxPacket)
	l.dirs[Down] = newDirection(Down, rx, box, c.Down, c.Seed+1, c.Slots, c.MaxPacket)
	for _, d := range l.dirs {
		l.wg.Add(2)
		go l.read(d)
		go l.write(d)
	}
	return l, nil
}

func newDirection(name Direction, src, dst *os.File, s Shape, seed uint64, slots, maxPacket int) *direction {
	d := &direction{name: name, src: src, dst: dst, wake: make(chan struct{}, 1),
		sched: newScheduler(s, seed), slots: make([]slot, slots), scratch: make([]byte, maxPacket)}
	// One backing array keeps the slots together and the GC's work small.
	mem := make([]byte, slots*maxPacket)
	for i := range d.slots {
		d.slots[i].buf = mem[i*maxPacket : (i+1)*maxPacket : (i+1)*maxPacket]
	}
	return d
}

// SetShape changes one direction's shape. What is already queued keeps
// its schedule, and later packets still leave after it, as when a real
// link slows down.
func (l *Link) SetShape(dir Direction, s Shape) error {
	if dir != Up && dir != Down {
		return fmt.Errorf("linkemu: unknown direction %d", dir)
	}
	if err := s.Validate(); err != nil {
		return err
	}
	d := l.dirs[dir]
	d.mu.Lock()
	d.sched.shape = s
	d.mu.Unlock()
	return nil
}

// SetLinkUp takes the link down (everything queued and arriving is
// dropped, both ways) or back up.
func (l *Link) SetLinkUp(up bool) {
	for _, d := range l.dirs {
		d.mu.Lock()
		d.down = !up
		d.mu.Unlock()
		d.notify()
	}
}

// Stats returns the counters so far.
func (l *Link) Stats() Stats {
	var s Stats
	for i, d := range l.dirs {
		d.mu.Lock()
		if Direction(i) == Up {
			s.Up = d.stats
		} else {
			s.Down = d.stats
		}
		d.mu.Unlock()
	}
	return s
}

// Close stops forwarding, closes both devices and waits for the
// goroutines to end.
func (l *Link) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = errors.Join(l.box.Close(), l.rx.Close())
		l.wg.Wait()
	})
	return err
}

func (l *Link) now() time.Duration { return time.Since(l.epoch) }

func (d *direction) notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (l *Link) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// read takes packets from the source device into the ring.
func (l *Link) read(d *direction) {
	defer l.wg.Done()
	for {
		d.mu.Lock()
		full := d.count == len(d.slots)
		tail := (d.head + d.count) % len(d.slots)
		d.mu.Unlock()
		// Only this goroutine fills the tail slot, and the writer does
		// not touch it until count covers it, so the read needs no lock.
		buf := d.scratch
		if !full {
			buf = d.slots[tail].buf
		}
		n, err := d.src.Read(buf)
		if err != nil {
			if l.closed() || errors.Is(err, os.ErrClosed) || errors.Is(err, io.EOF) {
				return
			}
			// A device being reconfigured (taken down, say) can fail a
			// read or two; only Close ends forwarding.
			l.log.Warn("linkemu: read failed", "dir", d.name, "err", err)
			select {
			case <-l.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		now := l.now()
		d.mu.Lock()
		switch {
		case d.down:
			d.stats.DownDropped++
		case full:
			d.stats.QueueDropped++
		default:
			at, v := d.sched.admit(now, n)
			switch v {
			case dropLoss:
				d.stats.Lost++
			case dropQueue:
				d.stats.QueueDropped++
			default:
				d.slots[tail].n, d.slots[tail].at = n, at
				d.count++
				if d.count == 1 {
					d.notify() // the writer sleeps on an empty ring
				}
			}
		}
		d.mu.Unlock()
	}
}

// write releases queued packets to the destination device when due.
func (l *Link) write(d *direction) {
	defer l.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		d.mu.Lock()
		if d.count == 0 {
			d.mu.Unlock()
			select {
			case <-d.wake:
				continue
			case <-l.done:
				return
			}
		}
		s := &d.slots[d.head]
		down := d.down
		d.mu.Unlock()
		if !down {
			if wait := s.at - l.now(); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-d.wake: // the link went down, or a stale wake-up
					timer.Stop()
					continue
				case <-l.done:
					return
				}
			}
		}
		var err error
		if !down {
			_, err = d.dst.Write(s.buf[:s.n])
		}
		d.mu.Lock()
		switch {
		case down:
			d.stats.DownDropped++
		case err != nil:
			d.stats.WriteErrors++
		default:
			d.stats.Forwarded++
		}
		d.head = (d.head + 1) % len(d.slots)
		d.count--
		d.mu.Unlock()
		if err != nil && l.closed() {
			return
		}
	}
}
