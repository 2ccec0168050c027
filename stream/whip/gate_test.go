package whip

import (
	"testing"
	"time"
)

func TestVideoGate(t *testing.T) {
	const frame = time.Second / 30
	// unit is one 30 fps frame of a 1.5 Mbit/s stream.
	const unit = 1_500_000 / 8 / 30
	type phase struct {
		frames   int
		estimate int  // bit/s
		keyAt    int  // frame index within the phase that is a keyframe; -1 none
		cutAtKey bool // from the keyframe on, frames are a quarter the size (the encoder's cut)
	}
	cases := []struct {
		name    string
		phases  []phase
		dropped int
	}{
		{"estimate above the rate", []phase{{120, 2_000_000, 0, false}}, 0},
		{"estimate still climbing from its start", []phase{{120, 600_000, 0, false}, {30, 700_000, -1, false}}, 0},
		{"shallow fall", []phase{{120, 2_000_000, 0, false}, {30, 1_300_000, -1, false}}, 0},
		{"collapse holds video until the cut's keyframe", []phase{{120, 2_000_000, 0, false}, {30, 500_000, 20, true}}, 20},
		{"a keyframe without a cut reopens only briefly", []phase{{120, 2_000_000, 0, false}, {40, 500_000, 20, false}}, 24},
		{"a collapse in the session's first seconds is its catch-up burst", []phase{{30, 2_000_000, 0, false}, {30, 500_000, -1, false}}, 0},
		{"collapse without a keyframe drops on", []phase{{120, 2_000_000, 0, false}, {30, 500_000, -1, false}}, 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			g := videoGate{start: now}
			dropped := 0
			for _, ph := range tc.phases {
				size := unit
				for i := range ph.frames {
					if ph.cutAtKey && i == ph.keyAt {
						size = unit / 4
					}
					if !g.admit(now, i == ph.keyAt, size, ph.estimate) {
						dropped++
					}
					now = now.Add(frame)
				}
			}
			if dropped != tc.dropped {
				t.Errorf("dropped %d frames, want %d", dropped, tc.dropped)
			}
		})
	}
}
