package app

import (
	"testing"

	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
)

// TestTowardsReachesEveryOnAirState walks the box's real state table with
// the events watchNetwork posts: from any on-air state it reaches the one
// the network calls for.
func TestTowardsReachesEveryOnAirState(t *testing.T) {
	onAirStates := []state.State{state.Live, state.Degraded, state.Reconnecting}
	for _, from := range onAirStates {
		for _, want := range onAirStates {
			cur := from
			for step := 0; cur != want; step++ {
				if step == 3 {
					t.Fatalf("%s → %s: stuck at %s", from, want, cur)
				}
				ev, ok := towards(cur, want)
				if !ok {
					t.Fatalf("%s → %s: no event from %s", from, want, cur)
				}
				next, _, ok := state.Next(cur, ev)
				if !ok {
					t.Fatalf("%s → %s: %s means nothing in %s", from, want, ev, cur)
				}
				cur = next
			}
			if _, ok := towards(cur, want); ok {
				t.Errorf("%s: an event posted though the box is where it should be", want)
			}
		}
	}
}

func TestAnyConnected(t *testing.T) {
	for _, tc := range []struct {
		ds   []pipeline.DestinationStats
		want bool
	}{
		{nil, true}, // recording only
		{[]pipeline.DestinationStats{{Connected: false}}, false},
		{[]pipeline.DestinationStats{{Connected: false}, {Connected: true}}, true},
	} {
		if got := anyConnected(tc.ds); got != tc.want {
			t.Errorf("anyConnected(%+v) = %v, want %v", tc.ds, got, tc.want)
		}
	}
}
