package bitrate

import (
	"testing"
	"time"
)

func TestMeter(t *testing.T) {
	m := NewMeter(2*time.Second, 8)
	t0 := time.Unix(1000, 0)
	for i := range 40 { // 100 kB every 50 ms = 16 Mbit/s for 2 s
		m.Add(t0.Add(time.Duration(i)*50*time.Millisecond), 100_000)
	}
	now := t0.Add(2 * time.Second)
	if r := m.BitsPerSecond(now); r < 14e6 || r > 18e6 {
		t.Errorf("rate %d, want ~16e6", r)
	}
	if r := m.BitsPerSecond(now.Add(10 * time.Second)); r != 0 {
		t.Errorf("rate after silence %d, want 0", r)
	}
	if r := NewMeter(time.Second, 4).BitsPerSecond(now); r != 0 {
		t.Errorf("empty meter %d, want 0", r)
	}
}

// TestWindowRateAndReset: the window rate spreads a fresh start over the
// whole window (BitsPerSecond would judge it on its first slot), and Reset
// forgets what came before.
func TestWindowRateAndReset(t *testing.T) {
	m := NewMeter(time.Second, 10)
	t0 := time.Unix(1000, 0)
	for i := range 30 { // 5 kB every 33 ms ≈ 1.2 Mbit/s for a second
		m.Add(t0.Add(time.Duration(i)*33*time.Millisecond), 5_000)
	}
	now := t0.Add(time.Second)
	if r := m.WindowBitsPerSecond(now); r < 1.0e6 || r > 1.3e6 {
		t.Errorf("window rate %d, want ~1.2e6", r)
	}
	m.Reset()
	if r := m.WindowBitsPerSecond(now); r != 0 {
		t.Errorf("window rate after Reset %d, want 0", r)
	}
	m.Add(now, 5_000)
	if w, b := m.WindowBitsPerSecond(now), m.BitsPerSecond(now); w != 40_000 || b != 400_000 {
		t.Errorf("one 5 kB send: window rate %d (want 40000), rate %d (want 400000)", w, b)
	}
}
