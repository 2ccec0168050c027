// Package state is the box's life as an explicit state machine: a
// transition table (data) and a pure Next function. Side effects are named
// as Actions for the caller (firmware.Box) to carry out, which keeps every
// rule here testable without hardware or a stream.
package state

import "slices"

// State is where the box is in its life.
type State string

const (
	Idle         State = "idle"         // powered, not streaming
	Starting     State = "starting"     // she pressed go; the stream is coming up
	Live         State = "live"         // on air, healthy
	Degraded     State = "degraded"     // on air, network struggling (bitrate lowered)
	Reconnecting State = "reconnecting" // link lost; recording continues, retrying
	Ending       State = "ending"       // she asked to stop; closing outputs cleanly
	Setup        State = "setup"        // provisioning from the phone page
	Fault        State = "fault"        // something needs attention before going live
	// Practice is a rehearsal: everything runs as live (preview, cards,
	// light, warnings, recording) but nothing is published anywhere.
	Practice State = "practice"
)

// States lists every state, in display order.
func States() []State {
	return []State{Idle, Starting, Live, Degraded, Reconnecting, Ending, Setup, Fault, Practice}
}

// Event is something that happened: a button press (already mapped to its
// meaning) or a report from the pipeline or the system.
type Event string

const (
	BigShort          Event = "big-short"          // big button tapped
	BigLong           Event = "big-long"           // big button held 3 s
	CardNext          Event = "card-next"          // show the next product card
	CardPrev          Event = "card-prev"          // show the previous product card
	CardHide          Event = "card-hide"          // hide the product card
	LightCycle        Event = "light-cycle"        // ring light to the next level
	LightOff          Event = "light-off"          // ring light off
	Mark              Event = "mark"               // "I misspoke just now": mark the recording
	ComplianceWarning Event = "compliance-warning" // the caption linter found something
	StreamUp          Event = "stream-up"          // every output is publishing
	StartFailed       Event = "start-failed"       // the pipeline could not start
	StreamDegraded    Event = "stream-degraded"    // bitrate dropped / queue growing
	StreamRecovered   Event = "stream-recovered"   // healthy again
	LinkLost          Event = "link-lost"          // the network or ingest went away
	LinkBack          Event = "link-back"          // publishing again after a reconnect
	StreamEnded       Event = "stream-ended"       // the pipeline has stopped
	FaultRaised       Event = "fault"              // a fault that blocks streaming (no camera, bad config)
	FaultCleared      Event = "fault-cleared"      // the fault went away
	SetupEnter        Event = "setup-enter"        // provisioning requested (phone page)
	SetupExit         Event = "setup-exit"         // provisioning finished
	// CardHold is a card button held on the box: it hides the card, and
	// while idle starts a practice (the phone page hides the card with
	// CardHide, so a tap on its 收起卡片 never starts one).
	CardHold      Event = "card-hold"
	PracticeStart Event = "practice-start" // 练习 on the phone page
)

// Events lists every event.
func Events() []Event {
	return []Event{BigShort, BigLong, CardNext, CardPrev, CardHide, LightCycle, LightOff, Mark,
		ComplianceWarning, StreamUp, StartFailed, StreamDegraded, StreamRecovered, LinkLost, LinkBack,
		StreamEnded, FaultRaised, FaultCleared, SetupEnter, SetupExit, CardHold, PracticeStart}
}

// Action is a side effect a transition asks for, in order.
type Action string

const (
	GoLive       Action = "go-live"       // Pipeline.GoLive
	End          Action = "end"           // Pipeline.End
	NextCard     Action = "next-card"     // Pipeline.NextCard
	PrevCard     Action = "prev-card"     // Pipeline.PrevCard
	HideCard     Action = "hide-card"     // Pipeline.HideCard
	MarkClip     Action = "mark-clip"     // Pipeline.Mark
	RingOn       Action = "ring-on"       // ring light to its working level if off
	RingCycle    Action = "ring-cycle"    // ring light to the next level
	RingOff      Action = "ring-off"      // ring light off
	FlashWarning Action = "flash-warning" // LED overlay: compliance warning
	FlashMark    Action = "flash-mark"    // LED overlay: mark acknowledged
	EnterSetup   Action = "enter-setup"   // start provisioning (AP / phone page)
	ExitSetup    Action = "exit-setup"    // stop provisioning, reload config
	GoPractice   Action = "go-practice"   // Pipeline.Practice: as GoLive, publishing nothing
)

// Transition is one row of the table.
type Transition struct {
	To      State
	Actions []Action
}

// on-air behaviour shared by live, degraded and reconnecting: she keeps
// selling (cards, light, mark) and sees warnings whatever the network does.
func onAir(self State, extra map[Event]Transition) map[Event]Transition {
	m := map[Event]Transition{
		BigLong:           {Ending, []Action{End}},
		CardNext:          {self, []Action{NextCard}},
		CardPrev:          {self, []Action{PrevCard}},
		CardHide:          {self, []Action{HideCard}},
		CardHold:          {self, []Action{HideCard}},
		LightCycle:        {self, []Action{RingCycle}},
		LightOff:          {self, []Action{RingOff}},
		Mark:              {self, []Action{MarkClip, FlashMark}},
		ComplianceWarning: {self, []Action{FlashWarning}},
		// The platform or the pipeline stopped without being asked.
		StreamEnded: {Idle, []Action{RingOff}},
		FaultRaised: {Fault, []Action{End, RingOff}},
	}
	for e, t := range extra {
		m[e] = t
	}
	return m
}

// table is the whole machine. A (state, event) pair that is absent is
// ignored: the state stays and nothing happens. In particular a short press
// of the big button while on air does nothing — ending needs a 3 s hold so a
// brushed button never cuts a sale short. Read-only after init.
var table = map[State]map[Event]Transition{
	Idle: {
		BigShort:    {Starting, []Action{RingOn, GoLive}},
		BigLong:     {Setup, []Action{EnterSetup}},
		SetupEnter:  {Setup, []Action{EnterSetup}},
		CardNext:    {Idle, []Action{NextCard}}, // rehearse the cards before going live
		CardPrev:    {Idle, []Action{PrevCard}},
		CardHide:    {Idle, []Action{HideCard}},
		LightCycle:  {Idle, []Action{RingCycle}},
		LightOff:    {Idle, []Action{RingOff}},
		FaultRaised: {Fault, []Action{RingOff}},
		// A practice starts at once: no platform has to answer.
		PracticeStart: {Practice, []Action{RingOn, GoPractice}},
		CardHold:      {Practice, []Action{RingOn, GoPractice}},
	},
	Starting: {
		StreamUp:          {Live, nil},
		StreamDegraded:    {Degraded, nil},
		LinkLost:          {Reconnecting, nil},
		StartFailed:       {Idle, []Action{RingOff}},
		StreamEnded:       {Idle, []Action{RingOff}},
		BigLong:           {Ending, []Action{End}}, // changed her mind
		CardNext:          {Starting, []Action{NextCard}},
		CardPrev:          {Starting, []Action{PrevCard}},
		CardHide:          {Starting, []Action{HideCard}},
		CardHold:          {Starting, []Action{HideCard}},
		LightCycle:        {Starting, []Action{RingCycle}},
		LightOff:          {Starting, []Action{RingOff}},
		ComplianceWarning: {Starting, []Action{FlashWarning}},
		FaultRaised:       {Fault, []Action{End, RingOff}},
	},
	Live: onAir(Live, map[Event]Transition{
		StreamDegraded: {Degraded, nil},
		LinkLost:       {Reconnecting, nil},
	}),
	Degraded: onAir(Degraded, map[Event]Transition{
		StreamRecovered: {Live, nil},
		LinkLost:        {Reconnecting, nil},
	}),
	Reconnecting: onAir(Reconnecting, map[Event]Transition{
		LinkBack: {Live, nil},
		StreamUp: {Live, nil},
	}),
	// A practice is on air without an audience: no link to lose, so the
	// network's reports mean nothing to it; she ends it like a live.
	Practice: onAir(Practice, map[Event]Transition{
		StartFailed: {Idle, []Action{RingOff}},
	}),
	Ending: {
		StreamEnded: {Idle, []Action{RingOff}},
		StartFailed: {Idle, []Action{RingOff}},
		FaultRaised: {Fault, []Action{RingOff}},
	},
	Setup: {
		SetupExit:   {Idle, []Action{ExitSetup}},
		BigLong:     {Idle, []Action{ExitSetup}},
		LightCycle:  {Setup, []Action{RingCycle}}, // check the light while installing
		LightOff:    {Setup, []Action{RingOff}},
		FaultRaised: {Fault, []Action{ExitSetup, RingOff}},
	},
	Fault: {
		FaultCleared: {Idle, nil},
		SetupEnter:   {Setup, []Action{EnterSetup}}, // fix the config from the phone
		BigLong:      {Setup, []Action{EnterSetup}},
	},
}

// Next is the machine: the state after event e in state s, the actions to
// carry out in order, and whether the event meant anything in s. When ok is
// false the state is s and there are no actions.
func Next(s State, e Event) (next State, actions []Action, ok bool) {
	t, ok := table[s][e]
	if !ok {
		return s, nil, false
	}
	return t.To, slices.Clone(t.Actions), true
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	_, ok := table[s]
	return ok
}

// Valid reports whether e is a known event.
func (e Event) Valid() bool { return slices.Contains(Events(), e) }
