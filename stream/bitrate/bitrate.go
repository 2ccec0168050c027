// Package bitrate measures how fast an output is really sending, over a
// short sliding window, for the stats the phone page and the bitrate
// controller read.
package bitrate

import "time"

// Meter estimates a bitrate over a sliding window of fixed slots. It is
// not safe for concurrent use; callers hold their own lock.
type Meter struct {
	slot  time.Duration
	bytes []uint64 // ring of per-slot byte counts
	start []time.Time
	cur   int
}

// NewMeter covers window with slots equal slots.
func NewMeter(window time.Duration, slots int) *Meter {
	return &Meter{slot: window / time.Duration(slots), bytes: make([]uint64, slots), start: make([]time.Time, slots)}
}

// Add counts n bytes sent at now.
func (m *Meter) Add(now time.Time, n uint64) {
	if m.start[m.cur].IsZero() || now.Sub(m.start[m.cur]) >= m.slot {
		m.cur = (m.cur + 1) % len(m.bytes)
		m.bytes[m.cur], m.start[m.cur] = 0, now
	}
	m.bytes[m.cur] += n
}

// BitsPerSecond over the slots that are still inside the window.
func (m *Meter) BitsPerSecond(now time.Time) int64 {
	total, oldest := m.inWindow(now)
	span := now.Sub(oldest)
	if span < m.slot {
		span = m.slot // a single fresh slot would overstate the rate
	}
	return int64(float64(total*8) / span.Seconds())
}

// WindowBitsPerSecond spreads what the slots inside the window hold over
// the whole window. Right after a Reset it understates the rate instead
// of judging it on the first few sends, which suits a caller deciding
// whether a sender has become too fast.
func (m *Meter) WindowBitsPerSecond(now time.Time) int64 {
	total, _ := m.inWindow(now)
	return int64(float64(total*8) / (m.slot * time.Duration(len(m.bytes))).Seconds())
}

// Reset forgets everything counted.
func (m *Meter) Reset() {
	clear(m.bytes)
	clear(m.start)
	m.cur = 0
}

// inWindow sums the slots still inside the window and says when the
// oldest of them began (now when none is).
func (m *Meter) inWindow(now time.Time) (total uint64, oldest time.Time) {
	window := m.slot * time.Duration(len(m.bytes))
	oldest = now
	for i, st := range m.start {
		if st.IsZero() || now.Sub(st) > window {
			continue
		}
		total += m.bytes[i]
		if st.Before(oldest) {
			oldest = st
		}
	}
	return total, oldest
}
