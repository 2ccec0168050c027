package weaklink

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event changes the link at At after the start.
type Event struct {
	At    time.Duration
	Shape *Shape // new shape, or
	Down  bool   // link down, or
	Up    bool   // link back up
}

// Profile is one link scenario.
type Profile struct {
	Name     string
	Duration time.Duration
	Initial  Shape
	Events   []Event
	// StepAt and ReturnAt mark a capacity step down and its return, for
	// the adapt and recover measurements; zero if none.
	StepAt, ReturnAt time.Duration
}

// CapacityAt is the link capacity at t in kbit/s; 0 while down.
func (p Profile) CapacityAt(t time.Duration) float64 {
	rate, up := p.Initial.RateKbps, true
	for _, e := range p.Events {
		if e.At > t {
			break
		}
		switch {
		case e.Shape != nil:
			rate = e.Shape.RateKbps
		case e.Down:
			up = false
		case e.Up:
			up = true
		}
	}
	if !up {
		return 0
	}
	return float64(rate)
}

// UpTimes are the moments the link comes back.
func (p Profile) UpTimes() []time.Duration {
	var out []time.Duration
	for _, e := range p.Events {
		if e.Up {
			out = append(out, e.At)
		}
	}
	return out
}

var (
	good4G  = Shape{RateKbps: 8000, Delay: 40 * time.Millisecond}
	rural4G = Shape{RateKbps: 2000, Delay: 80 * time.Millisecond, Jitter: 20 * time.Millisecond, LossPct: 1}
	threeG  = Shape{RateKbps: 768, Delay: 150 * time.Millisecond, Jitter: 30 * time.Millisecond, LossPct: 3}
	fourM   = Shape{RateKbps: 4000, Delay: 40 * time.Millisecond}
	oneM    = Shape{RateKbps: 1000, Delay: 40 * time.Millisecond}
)

// StepDown is 4 → 1 Mbit/s at at, back to 4 at back, ending at end.
func StepDown(at, back, end time.Duration) Profile {
	return Profile{Name: "stepdown", Duration: end, Initial: fourM, StepAt: at, ReturnAt: back,
		Events: []Event{{At: at, Shape: &oneM}, {At: back, Shape: &fourM}}}
}

// Outage takes the link down at at for dur.
func Outage(at, dur, end time.Duration) Profile {
	return Profile{Name: "outage", Duration: end, Initial: fourM,
		Events: []Event{{At: at, Down: true}, {At: at + dur, Up: true}}}
}

// Flapping takes the link down for down every period, for total.
func Flapping(down, period, total time.Duration) Profile {
	p := Profile{Name: "flapping", Duration: total + period, Initial: fourM}
	for at := period; at <= total; at += period {
		p.Events = append(p.Events, Event{At: at, Down: true}, Event{At: at + down, Up: true})
	}
	return p
}

// Profiles are the scenarios at full length.
func Profiles() []Profile {
	return []Profile{
		{Name: "good4g", Duration: 60 * time.Second, Initial: good4G},
		{Name: "rural4g", Duration: 5 * time.Minute, Initial: rural4G},
		{Name: "3g", Duration: 5 * time.Minute, Initial: threeG},
		StepDown(20*time.Second, 50*time.Second, 80*time.Second),
		Outage(20*time.Second, 20*time.Second, 60*time.Second),
		Flapping(2*time.Second, 10*time.Second, 2*time.Minute),
	}
}

// Select picks profiles by comma-separated names; empty means all.
// Scale < 1 shortens the steady profiles (rural4g, 3g, good4g) for quick
// runs; the event profiles keep their timing.
func Select(names string, scale float64) ([]Profile, error) {
	all := Profiles()
	if scale > 0 && scale < 1 {
		for i := range all {
			if len(all[i].Events) == 0 {
				all[i].Duration = max(30*time.Second, time.Duration(float64(all[i].Duration)*scale))
			}
		}
	}
	if strings.TrimSpace(names) == "" {
		return all, nil
	}
	var out []Profile
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		i := slices.IndexFunc(all, func(p Profile) bool { return p.Name == n })
		if i < 0 {
			var known []string
			for _, p := range all {
				known = append(known, p.Name)
			}
			return nil, fmt.Errorf("weaklink: unknown profile %q (known: %s)", n, strings.Join(known, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}
