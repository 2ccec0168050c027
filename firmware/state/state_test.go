package state

import (
	"slices"
	"strings"
	"testing"
)

// expected is the whole machine written out by hand: for every state, each
// event it reacts to ("event -> next: actions") and, on the "ignores" line,
// every event it ignores. The test checks that each state accounts for every
// event exactly once and that Next agrees with every cell.
const expected = `
idle:
	big-short -> starting: ring-on go-live
	big-long -> setup: enter-setup
	setup-enter -> setup: enter-setup
	card-next -> idle: next-card
	card-prev -> idle: prev-card
	card-hide -> idle: hide-card
	light-cycle -> idle: ring-cycle
	light-off -> idle: ring-off
	fault -> fault: ring-off
	practice-start -> practice: ring-on go-practice
	card-hold -> practice: ring-on go-practice
	ignores: mark compliance-warning stream-up start-failed stream-degraded stream-recovered link-lost link-back stream-ended fault-cleared setup-exit
starting:
	stream-up -> live:
	stream-degraded -> degraded:
	link-lost -> reconnecting:
	start-failed -> idle: ring-off
	stream-ended -> idle: ring-off
	big-long -> ending: end
	card-next -> starting: next-card
	card-prev -> starting: prev-card
	card-hide -> starting: hide-card
	card-hold -> starting: hide-card
	light-cycle -> starting: ring-cycle
	light-off -> starting: ring-off
	compliance-warning -> starting: flash-warning
	fault -> fault: end ring-off
	ignores: big-short mark stream-recovered link-back fault-cleared setup-enter setup-exit practice-start
live:
	big-long -> ending: end
	card-next -> live: next-card
	card-prev -> live: prev-card
	card-hide -> live: hide-card
	card-hold -> live: hide-card
	light-cycle -> live: ring-cycle
	light-off -> live: ring-off
	mark -> live: mark-clip flash-mark
	compliance-warning -> live: flash-warning
	stream-ended -> idle: ring-off
	fault -> fault: end ring-off
	stream-degraded -> degraded:
	link-lost -> reconnecting:
	ignores: big-short stream-up start-failed stream-recovered link-back fault-cleared setup-enter setup-exit practice-start
degraded:
	big-long -> ending: end
	card-next -> degraded: next-card
	card-prev -> degraded: prev-card
	card-hide -> degraded: hide-card
	card-hold -> degraded: hide-card
	light-cycle -> degraded: ring-cycle
	light-off -> degraded: ring-off
	mark -> degraded: mark-clip flash-mark
	compliance-warning -> degraded: flash-warning
	stream-ended -> idle: ring-off
	fault -> fault: end ring-off
	stream-recovered -> live:
	link-lost -> reconnecting:
	ignores: big-short stream-up start-failed stream-degraded link-back fault-cleared setup-enter setup-exit practice-start
reconnecting:
	big-long -> ending: end
	card-next -> reconnecting: next-card
	card-prev -> reconnecting: prev-card
	card-hide -> reconnecting: hide-card
	card-hold -> reconnecting: hide-card
	light-cycle -> reconnecting: ring-cycle
	light-off -> reconnecting: ring-off
	mark -> reconnecting: mark-clip flash-mark
	compliance-warning -> reconnecting: flash-warning
	stream-ended -> idle: ring-off
	fault -> fault: end ring-off
	link-back -> live:
	stream-up -> live:
	ignores: big-short start-failed stream-degraded stream-recovered link-lost fault-cleared setup-enter setup-exit practice-start
ending:
	stream-ended -> idle: ring-off
	start-failed -> idle: ring-off
	fault -> fault: ring-off
	ignores: big-short big-long card-next card-prev card-hide light-cycle light-off mark compliance-warning stream-up stream-degraded stream-recovered link-lost link-back fault-cleared setup-enter setup-exit practice-start card-hold
setup:
	setup-exit -> idle: exit-setup
	big-long -> idle: exit-setup
	light-cycle -> setup: ring-cycle
	light-off -> setup: ring-off
	fault -> fault: exit-setup ring-off
	ignores: big-short card-next card-prev card-hide mark compliance-warning stream-up start-failed stream-degraded stream-recovered link-lost link-back stream-ended fault-cleared setup-enter practice-start card-hold
practice:
	big-long -> ending: end
	card-next -> practice: next-card
	card-prev -> practice: prev-card
	card-hide -> practice: hide-card
	card-hold -> practice: hide-card
	light-cycle -> practice: ring-cycle
	light-off -> practice: ring-off
	mark -> practice: mark-clip flash-mark
	compliance-warning -> practice: flash-warning
	stream-ended -> idle: ring-off
	start-failed -> idle: ring-off
	fault -> fault: end ring-off
	ignores: big-short stream-up stream-degraded stream-recovered link-lost link-back fault-cleared setup-enter setup-exit practice-start
fault:
	fault-cleared -> idle:
	setup-enter -> setup: enter-setup
	big-long -> setup: enter-setup
	ignores: big-short card-next card-prev card-hide light-cycle light-off mark compliance-warning stream-up start-failed stream-degraded stream-recovered link-lost link-back stream-ended fault setup-exit practice-start card-hold
`

type cell struct {
	to      State
	actions []Action
	ok      bool
}

func parseExpected(t *testing.T) map[State]map[Event]cell {
	t.Helper()
	want := map[State]map[Event]cell{}
	var cur State
	add := func(e Event, c cell) {
		if !e.Valid() {
			t.Fatalf("expected table: unknown event %q in %s", e, cur)
		}
		if _, dup := want[cur][e]; dup {
			t.Fatalf("expected table: %s lists %s twice", cur, e)
		}
		want[cur][e] = c
	}
	for _, line := range strings.Split(expected, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasSuffix(line, ":") && !strings.Contains(line, " "):
			cur = State(strings.TrimSuffix(line, ":"))
			want[cur] = map[Event]cell{}
		case strings.HasPrefix(line, "ignores:"):
			for _, e := range strings.Fields(strings.TrimPrefix(line, "ignores:")) {
				add(Event(e), cell{to: cur})
			}
		default:
			ev, rest, ok1 := strings.Cut(line, " -> ")
			to, acts, ok2 := strings.Cut(rest, ":")
			if !ok1 || !ok2 {
				t.Fatalf("expected table: bad line %q", line)
			}
			c := cell{to: State(to), ok: true}
			for _, a := range strings.Fields(acts) {
				c.actions = append(c.actions, Action(a))
			}
			add(Event(ev), c)
		}
	}
	return want
}

func TestNextExhaustive(t *testing.T) {
	want := parseExpected(t)
	if len(want) != len(States()) {
		t.Fatalf("expected table has %d states, machine %d", len(want), len(States()))
	}
	for _, s := range States() {
		row, ok := want[s]
		if !ok {
			t.Fatalf("expected table misses state %s", s)
		}
		if len(row) != len(Events()) {
			t.Fatalf("expected table: %s accounts for %d of %d events", s, len(row), len(Events()))
		}
		for _, e := range Events() {
			w := row[e]
			to, actions, ok := Next(s, e)
			if to != w.to || ok != w.ok || !slices.Equal(actions, w.actions) {
				t.Errorf("Next(%s, %s) = %s %v %t, want %s %v %t", s, e, to, actions, ok, w.to, w.actions, w.ok)
			}
			if !to.Valid() {
				t.Errorf("Next(%s, %s) leads to unknown state %q", s, e, to)
			}
		}
	}
}

func TestNextUnknownInputsAreIgnored(t *testing.T) {
	for _, c := range []struct {
		s State
		e Event
	}{{"flying", BigShort}, {Live, "explode"}, {"", ""}} {
		to, actions, ok := Next(c.s, c.e)
		if ok || to != c.s || actions != nil {
			t.Errorf("Next(%q, %q) = %q %v %t", c.s, c.e, to, actions, ok)
		}
	}
}

func TestNextReturnsFreshActions(t *testing.T) {
	_, a, _ := Next(Idle, BigShort)
	a[0] = End
	if _, b, _ := Next(Idle, BigShort); b[0] != RingOn {
		t.Fatal("caller mutated the table")
	}
}

// The one-button flow she is taught: tap to go live, hold to stop.
func TestOneButtonFlow(t *testing.T) {
	s := Idle
	for i, step := range []struct {
		e    Event
		want State
	}{
		{BigShort, Starting}, {StreamUp, Live}, {BigShort, Live}, {StreamDegraded, Degraded},
		{LinkLost, Reconnecting}, {LinkBack, Live}, {BigLong, Ending}, {StreamEnded, Idle},
	} {
		s, _, _ = Next(s, step.e)
		if s != step.want {
			t.Fatalf("step %d (%s): %s, want %s", i, step.e, s, step.want)
		}
	}
}
