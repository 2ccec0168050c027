package whip

import "time"

// rateMeter sums bytes in a sliding window of slots.
type rateMeter struct {
	slot  time.Duration
	start time.Time // start of slot 0 of the ring's current lap
	bins  []uint64
	last  int64 // absolute index of the newest slot touched
}

func newRateMeter(window time.Duration, slots int) *rateMeter {
	return &rateMeter{slot: window / time.Duration(slots), bins: make([]uint64, slots), start: time.Now(), last: 0}
}

func (m *rateMeter) advance(now time.Time) int64 {
	idx := int64(now.Sub(m.start) / m.slot)
	if idx < m.last {
		return m.last
	}
	for i := m.last + 1; i <= idx && i <= m.last+int64(len(m.bins)); i++ {
		m.bins[i%int64(len(m.bins))] = 0
	}
	m.last = idx
	return idx
}

func (m *rateMeter) add(now time.Time, n uint64) {
	idx := m.advance(now)
	m.bins[idx%int64(len(m.bins))] += n
}

func (m *rateMeter) bitsPerSecond(now time.Time) int64 {
	m.advance(now)
	var sum uint64
	for _, b := range m.bins {
		sum += b
	}
	return int64(sum) * 8 * int64(time.Second) / (m.slot.Nanoseconds() * int64(len(m.bins)))
}
