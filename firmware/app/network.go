package app

import (
	"context"
	"time"

	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
)

// linkLostAfter is how long no destination may be connected before the
// box says the link is lost: a reconnect that takes a moment is not news.
const linkLostAfter = 3 * time.Second

// watchNetwork turns what the pipeline sees of the network into the box's
// on-air states, so the LED and the phone page say it: reconnecting while
// no destination is connected, degraded while a weak link has reduced the
// picture, live otherwise.
func (a *App) watchNetwork(ctx context.Context) error {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var lostSince time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := time.Now()
		cur := a.Box.Status().State
		st := a.opts.Pipeline.Stats()
		if !st.Live || !onAir(cur) {
			lostSince = time.Time{}
			continue
		}
		if anyConnected(st.Destinations) {
			lostSince = time.Time{}
		} else if lostSince.IsZero() {
			lostSince = now
		}
		want := state.Live
		switch {
		case !lostSince.IsZero() && now.Sub(lostSince) >= linkLostAfter:
			want = state.Reconnecting
		case !lostSince.IsZero():
			continue // give the reconnect its moment
		case st.Video.Reduced:
			want = state.Degraded
		}
		if ev, ok := towards(cur, want); ok {
			a.Box.Post(ev, "")
		}
	}
}

func onAir(s state.State) bool {
	return s == state.Live || s == state.Degraded || s == state.Reconnecting
}

func anyConnected(ds []pipeline.DestinationStats) bool {
	if len(ds) == 0 {
		return true // recording only: no network to lose
	}
	for _, d := range ds {
		if d.Connected {
			return true
		}
	}
	return false
}

// towards is the event that moves the box from cur one step to want.
func towards(cur, want state.State) (state.Event, bool) {
	if cur == want {
		return "", false
	}
	switch {
	case want == state.Reconnecting:
		return state.LinkLost, true
	case cur == state.Reconnecting:
		return state.LinkBack, true // to live; degraded at the next look
	case want == state.Degraded:
		return state.StreamDegraded, true
	default:
		return state.StreamRecovered, true
	}
}
