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
