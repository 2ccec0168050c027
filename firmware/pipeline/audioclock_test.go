package pipeline

import (
	"testing"
	"time"
)

// TestAudioClockNeverAhead: reads of 20 ms chunks at the given read times;
// no chunk is stamped later than it could have been captured (read time
// minus its length), and steady reads keep the sample count's stamps.
func TestAudioClockNeverAhead(t *testing.T) {
	const chunk = 20 * time.Millisecond
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tc := range []struct {
		name  string
		reads []time.Duration // when each 20 ms read returned
		want  []time.Duration // the stamps
	}{
		{"steady", []time.Duration{ms(1020), ms(1040), ms(1061), ms(1080)},
			[]time.Duration{ms(1000), ms(1020), ms(1040), ms(1060)}},
		// The source was 3 s behind its epoch when first read: it hands
		// over its backlog at once, then paces. Counting from the first
		// read would stamp the last chunk 3000 ms + 40 ms, 3 s late.
		{"backlog at start", []time.Duration{ms(3020), ms(3021), ms(3022), ms(3040), ms(3060)},
			[]time.Duration{ms(3000), ms(3001), ms(3002), ms(3022), ms(3042)}},
		// A stamp just inside the slack, then a burst: still rising.
		{"rises through a restart", []time.Duration{ms(1020), ms(1035), ms(1036)},
			[]time.Duration{ms(1000), ms(1020), ms(1020) + time.Microsecond}},
		{"late wake-up keeps the count", []time.Duration{ms(1020), ms(1055), ms(1060)},
			[]time.Duration{ms(1000), ms(1020), ms(1040)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := audioClock{rate: 48000}
			last := time.Duration(-1)
			for i, at := range tc.reads {
				got := c.stamp(at, 960)
				if got <= last {
					t.Errorf("read %d stamped %v, not after the last %v", i, got, last)
				}
				last = got
				if got > at-chunk+aheadSlack {
					t.Errorf("read %d at %v stamped %v: after it could have been captured", i, at, got)
				}
				if got != tc.want[i] {
					t.Errorf("read %d at %v stamped %v, want %v", i, at, got, tc.want[i])
				}
			}
		})
	}
}
