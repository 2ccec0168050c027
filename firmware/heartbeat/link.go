package heartbeat

import (
	"sync"
	"time"
)

// LinkMeter measures a live's link: the share of its time spent stalled
// (reconnecting) and its mean sent bitrate from samples taken while live.
// The box's state drives it; its methods may be called from any
// goroutine.
type LinkMeter struct {
	mu         sync.Mutex
	on         bool
	start      time.Time
	stallStart time.Time // zero while not stalled
	stalled    time.Duration
	kbpsSum    float64
	samples    int
	last       *LiveLink
}

// Begin starts a live at at (a live under way is ended first).
func (m *LinkMeter) Begin(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.on {
		m.endLocked(at)
	}
	m.on, m.start, m.stallStart, m.stalled, m.kbpsSum, m.samples = true, at, time.Time{}, 0, 0, 0
}

// Stalled says whether the live is stalled (reconnecting) from at.
func (m *LinkMeter) Stalled(at time.Time, stalled bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stalledLocked(at, stalled)
}

func (m *LinkMeter) stalledLocked(at time.Time, stalled bool) {
	if !m.on {
		return
	}
	switch {
	case stalled && m.stallStart.IsZero():
		m.stallStart = at
	case !stalled && !m.stallStart.IsZero():
		m.stalled += max(0, at.Sub(m.stallStart))
		m.stallStart = time.Time{}
	}
}

// Sample adds what the box sent over the last moments, in kbit/s.
func (m *LinkMeter) Sample(kbps float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.on && kbps >= 0 {
		m.kbpsSum += kbps
		m.samples++
	}
}

// End ends the live at at; Last then reports it.
func (m *LinkMeter) End(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.on {
		m.endLocked(at)
	}
}

func (m *LinkMeter) endLocked(at time.Time) {
	m.stalledLocked(at, false)
	l := &LiveLink{Ended: at}
	if d := at.Sub(m.start); d > 0 {
		l.StallPct = min(100, 100*m.stalled.Seconds()/d.Seconds())
	}
	if m.samples > 0 {
		l.MeanKbps = m.kbpsSum / float64(m.samples)
	}
	m.on, m.last = false, l
}

// Last is the link of the last live ended; nil before the first.
func (m *LinkMeter) Last() *LiveLink {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == nil {
		return nil
	}
	l := *m.last
	return &l
}
