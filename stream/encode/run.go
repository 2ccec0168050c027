package encode

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cunbo/cunbo/stream"
)

// outputState decides which instance's units reach the sink.
//
// Without LiveSwitch, while a replacement is starting, the current
// instance's units are held back; at the replacement's first keyframe
// (time switchAt) the held units before switchAt go out and the
// replacement takes over.
//
// With LiveSwitch the replacement is told to make a keyframe at a planned
// cut time (its start plus a lead long enough for ffmpeg to start and
// settle). The current instance keeps delivering everything before the cut
// and only its units from the cut on are held; at the replacement's
// keyframe the held units are dropped and the replacement goes on from
// there. Viewers see no pause beyond the difference between the two
// encoders' latencies, and the timeline neither jumps nor repeats. Waiting
// instead for "the replacement's first keyframe later than what was
// delivered" depends on the replacement being faster than the running
// encoder, which a scaling or frame-rate filter (one frame of delay) never
// is.
//
// Two ffmpeg processes do not keep pace with each other on a loaded
// machine: the replacement's keyframe can arrive before the running
// encoder has delivered everything up to the cut. Cutting over then would
// lose the running encoder's late units for good (a hole of up to a second
// in the recording, seen under the race detector), so the replacement's
// units wait until the running encoder reaches the cut, or has died, or
// the wait passes maxCutWait.
//
// If the replacement fails, everything held goes out and nothing is lost.
type outputState struct {
	active    *instance
	pending   *instance
	switchAt  time.Duration
	heldVideo []*stream.VideoUnit
	heldAudio []*stream.AudioUnit
	// pendingAudio is the replacement's audio from its cut on, kept until
	// its keyframe makes it the active instance.
	pendingAudio []*stream.AudioUnit
	// pendingVideo is the replacement's video from its planned keyframe
	// on, kept while the running encoder has not reached the cut.
	pendingVideo []*stream.VideoUnit
	// activeAtCut: the running encoder has produced a unit at or after
	// the cut. activeGone: it died, so nothing more will come from it.
	activeAtCut bool
	activeGone  bool

	tracks     stream.Tracks
	tracksSent bool
	lastDTS    time.Duration
	lastAudio  time.Duration
	anyVideo   bool
	anyAudio   bool
	// lastVideoFrom delivered the unit at lastDTS. needKey: a video unit
	// was dropped, so nothing but a keyframe can follow.
	lastVideoFrom *instance
	needKey       bool
	requested     *Output
	switched      chan struct{} // tells Run an old instance can be stopped
}

// switchLead is how long after a live replacement starts its planned
// keyframe comes when nothing is known yet about ffmpeg's start-up, and
// the most it ever waits. It is a whole second so the keyframe lands on
// a frame at every frame rate of the ladder (30, 25, 15).
const switchLead = time.Second

// cutLeadFor is how long after a live replacement starts its planned
// keyframe comes: the recent start-up time (from spawning ffmpeg to its
// first unit) plus a quarter second to catch up, rounded up to a fifth of
// a second so the keyframe lands on a frame at 30, 25 and 15 fps, between
// 0.4 s and switchLead.
func cutLeadFor(startup time.Duration) time.Duration {
	const step = 200 * time.Millisecond
	if startup <= 0 {
		return switchLead
	}
	lead := (startup + 250*time.Millisecond + step - 1) / step * step
	return min(max(lead, 2*step), switchLead)
}

// target is the output the encoder is heading for.
func (o *outputState) target(current Output) Output {
	if o.requested != nil {
		return *o.requested
	}
	return current
}

// maxCutWait bounds how much of the replacement's video waits for a
// running encoder that is behind the cut: delivery pauses that long at
// worst, and a running encoder further behind than that loses the rest.
const maxCutWait = 1500 * time.Millisecond

// maxHeld bounds what is held during a switch (a bit over SwitchTimeout).
const maxHeld = 1024

// minStep is how much every unit leaving the encoder moves time on from
// the previous one of its kind (video DTS, audio PTS). RTMP/FLV stamps
// whole milliseconds, the coarsest of the outputs; units closer than that
// get one timestamp there, and 90 kHz or 48 kHz ones within half a tick
// get one in the recording ("non monotonically increasing dts"). They meet
// only at a cut-over, where two encoders' clocks, each exact in its own
// 90 kHz ticks and frame rate, put the running encoder's last unit and the
// replacement's keyframe nanoseconds apart.
const minStep = time.Millisecond

func (e *Encoder) onTracks(in *instance, t stream.Tracks) {
	e.outMu.Lock()
	defer e.outMu.Unlock()
	if t.FPS == 0 {
		t.FPS = in.out.FPS
	}
	in.tracks, in.haveTrack = t, true
	if in == e.out.active && e.out.tracksSent {
		e.sendTracks(t)
	}
}

func (e *Encoder) sendTracks(t stream.Tracks) {
	if e.out.tracksSent && tracksEqual(e.out.tracks, t) {
		return
	}
	e.out.tracks, e.out.tracksSent = t, true
	e.sink.SetTracks(t)
}

func tracksEqual(a, b stream.Tracks) bool {
	return a.Width == b.Width && a.Height == b.Height && a.FPS == b.FPS &&
		bytes.Equal(a.SPS, b.SPS) && bytes.Equal(a.PPS, b.PPS) &&
		bytes.Equal(a.AudioConfig, b.AudioConfig) && a.SampleRate == b.SampleRate && a.Channels == b.Channels
}

// holdFrom is the time from which the active instance's units wait for a
// pending switch; ok is false when nothing is held.
func (e *Encoder) holdFrom() (time.Duration, bool) {
	o := &e.out
	switch {
	case o.pending == nil:
		return 0, false
	case !e.cfg.LiveSwitch:
		return -1 << 62, true
	case o.pending.cutAt == 0:
		return 0, false // not reading yet: the cut is not planned
	default:
		// Half a frame early, so a keyframe rounded by a frame-rate
		// filter still counts as the planned one.
		return o.pending.cutAt - e.cfg.Input.Interval()/2, true
	}
}

func (e *Encoder) onVideo(in *instance, u *stream.VideoUnit) {
	e.outMu.Lock()
	defer e.outMu.Unlock()
	if !in.anchored {
		// ffmpeg can encode the warm-up frame before Run has seen it
		// read and anchored the instance's timeline.
		if len(in.early) < maxHeld {
			in.early = append(in.early, u)
		}
		return
	}
	e.videoLocked(in, u)
}

func (e *Encoder) videoLocked(in *instance, u *stream.VideoUnit) {
	if !in.offsetSet {
		// The first unit is the warm-up frame, at in.start.
		in.offset, in.offsetSet = in.start-u.DTS, true
		took := time.Since(in.readyAt)
		if e.startup == 0 {
			e.startup = took
		} else {
			e.startup = (e.startup + took) / 2
		}
	}
	u.PTS += in.offset
	u.DTS += in.offset
	o := &e.out
	from, holding := e.holdFrom()
	switch {
	case in == o.active && holding && u.DTS >= from:
		if len(o.heldVideo) < maxHeld {
			o.heldVideo = append(o.heldVideo, u)
		}
		if e.cfg.LiveSwitch {
			o.activeAtCut = true
			if len(o.pendingVideo) > 0 {
				e.takeOver(o.pending)
			}
		}
	case in == o.active:
		e.deliverVideo(in, u)
	case in == o.pending && e.cfg.LiveSwitch:
		if len(o.pendingVideo) == 0 && (!u.Key || u.DTS < from || o.anyVideo && u.DTS <= o.lastDTS) {
			return // wait for the planned keyframe
		}
		if len(o.pendingVideo) < maxHeld {
			o.pendingVideo = append(o.pendingVideo, u)
		}
		switch {
		case o.activeAtCut || o.activeGone || o.active == nil:
			e.takeOver(in)
		case u.DTS-o.pendingVideo[0].DTS >= maxCutWait:
			e.log.Warn("encoder change: the running encoder is far behind the cut; what it has not delivered is lost",
				"instance", in.id, "cut", o.pendingVideo[0].DTS, "delivered_to", o.lastDTS)
			e.takeOver(in)
		}
	case in == o.pending:
		e.completeSwitch(in, u.DTS)
		e.deliverVideo(in, u)
	}
}

// takeOver completes a live switch to in with the video it has kept since
// its planned keyframe, interleaved with its audio in time order.
func (e *Encoder) takeOver(in *instance) {
	o := &e.out
	vs := o.pendingVideo
	o.pendingVideo = nil
	as := o.pendingAudio
	o.pendingAudio = nil
	e.completeSwitch(in, vs[0].DTS)
	// The old instance's audio ran to the cut; the new one's starts there.
	o.lastAudio = max(o.lastAudio, o.switchAt-minStep)
	for len(vs) > 0 || len(as) > 0 {
		if len(vs) > 0 && (len(as) == 0 || vs[0].DTS <= as[0].PTS) {
			e.deliverVideo(in, vs[0])
			vs = vs[1:]
			continue
		}
		e.deliverAudio(as[0])
		as = as[1:]
	}
}

// resetSwitch forgets a pending switch's progress (a new replacement, or
// none).
func (o *outputState) resetSwitch() {
	o.pendingAudio = nil
	o.pendingVideo = nil
	o.activeAtCut = false
}

func (e *Encoder) onAudio(in *instance, u *stream.AudioUnit) {
	e.outMu.Lock()
	defer e.outMu.Unlock()
	if !in.offsetSet {
		return
	}
	u.PTS += in.offset
	o := &e.out
	from, holding := e.holdFrom()
	switch {
	case in == o.active && holding && u.PTS >= from:
		if len(o.heldAudio) < maxHeld {
			o.heldAudio = append(o.heldAudio, u)
		}
	case in == o.active:
		e.deliverAudio(u)
	case in == o.pending && e.cfg.LiveSwitch && u.PTS >= from:
		if len(o.pendingAudio) < maxHeld {
			o.pendingAudio = append(o.pendingAudio, u)
		}
	}
}

// deliverVideo is where video leaves the encoder: each unit's DTS is at
// least minStep after the previous one's, whichever instance made it.
func (e *Encoder) deliverVideo(in *instance, u *stream.VideoUnit) {
	o := &e.out
	if o.anyVideo && u.DTS < o.lastDTS+minStep {
		short := o.lastDTS + minStep - u.DTS
		if !u.Key || in == o.lastVideoFrom || short > e.cfg.Input.Interval()/2 {
			// Whatever decodes from this unit must wait for a keyframe.
			o.needKey = true
			return
		}
		// A replacement's keyframe a hair after (or on) the last unit
		// the other encoder delivered is the same instant: move it on
		// rather than drop it and wait a whole GOP for the next one.
		u.DTS += short
		u.PTS += short
	}
	if o.needKey && !u.Key {
		return
	}
	if !o.tracksSent || !tracksEqual(o.tracks, in.tracks) {
		if !u.Key || !in.haveTrack {
			return // outputs can only start at a keyframe
		}
		e.sendTracks(in.tracks)
	}
	o.lastDTS, o.anyVideo, o.lastVideoFrom, o.needKey = u.DTS, true, in, false
	e.stats.VideoUnits++
	e.sink.WriteVideo(u)
}

// deliverAudio is where audio leaves the encoder: each unit's PTS is at
// least minStep after the previous one's. AAC frames stand alone, so one
// that is too close (the running encoder's last at a cut-over) is dropped.
func (e *Encoder) deliverAudio(u *stream.AudioUnit) {
	o := &e.out
	if !o.tracksSent || o.anyAudio && u.PTS < o.lastAudio+minStep {
		return
	}
	o.lastAudio, o.anyAudio = u.PTS, true
	e.stats.AudioUnits++
	e.sink.WriteAudio(u)
}

// completeSwitch makes the pending instance active at its keyframe at.
func (e *Encoder) completeSwitch(in *instance, at time.Duration) {
	o := &e.out
	o.switchAt = at
	e.flushHeld(o.switchAt)
	o.active, o.pending = in, nil
	o.activeGone = false
	// The old instance's audio ran to switchAt; the new one's starts there.
	o.lastAudio = max(o.lastAudio, o.switchAt-minStep)
	for _, a := range o.pendingAudio {
		e.deliverAudio(a)
	}
	o.resetSwitch()
	if o.requested != nil && *o.requested == in.out {
		o.requested = nil
	}
	e.stats.Switches++
	e.stats.Output = in.out
	select {
	case o.switched <- struct{}{}:
	default:
	}
}

// flushHeld delivers held units at least minStep before limit (the
// replacement's keyframe) in time order. A unit closer to the cut than that
// is the same instant as the keyframe, which replaces it.
func (e *Encoder) flushHeld(limit time.Duration) {
	o := &e.out
	vs, as := o.heldVideo, o.heldAudio
	o.heldVideo, o.heldAudio = nil, nil
	last := limit - minStep
	for len(vs) > 0 || len(as) > 0 {
		if len(vs) > 0 && (len(as) == 0 || vs[0].DTS <= as[0].PTS) {
			if vs[0].DTS <= last {
				e.deliverVideo(o.active, vs[0])
			}
			vs = vs[1:]
			continue
		}
		if as[0].PTS <= last {
			e.deliverAudio(as[0])
		}
		as = as[1:]
	}
}

// Run encodes until ctx is cancelled. It returns an error only if the
// encoder cannot start at all (ffmpeg missing); later ffmpeg failures are
// retried with backoff and logged.
func (e *Encoder) Run(ctx context.Context) error {
	codec := e.cfg.Codec
	if codec == "" {
		probe := SystemProbe(e.cfg.FFmpeg)
		if e.cfg.Probe != nil {
			probe = *e.cfg.Probe
		}
		var reason string
		codec, reason = probe.Detect(ctx)
		e.log.Info("encoder selected", "codec", codec, "reason", reason)
	}
	e.outMu.Lock()
	e.stats.Codec = codec
	e.out.switched = make(chan struct{}, 1)
	e.outMu.Unlock()

	interval := e.cfg.Input.Interval()
	runStart := time.Now()
	epoch := e.cfg.Epoch
	if epoch.IsZero() {
		epoch = runStart
	}
	base := runStart.Sub(epoch)
	tickTime := func(k int64) time.Duration { return base + time.Duration(k)*interval }

	nextID := 1
	var tick int64
	active, err := e.startInstance(nextID, e.cfg.Output, codec, 0)
	if err != nil {
		return err
	}
	nextID++
	e.outMu.Lock()
	e.out.active = active
	e.outMu.Unlock()

	var (
		pending     *instance
		retired     []*instance
		restartAt   time.Time
		backoff     = 100 * time.Millisecond
		needRestart bool
		current     = e.cfg.Output
	)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	defer func() {
		for _, in := range append(retired, active, pending) {
			if in != nil && !in.stopping {
				in.stopping = true
				in.stop()
			}
		}
		for _, in := range append(retired, active, pending) {
			if in != nil {
				<-in.done
			}
		}
		e.inMu.Lock()
		if e.latest != nil {
			e.latest.release()
			e.latest = nil
		}
		e.inMu.Unlock()
	}()

	retire := func(in *instance) {
		if in != nil && !in.stopping {
			in.stopping = true
			in.stop()
			retired = append(retired, in)
		}
	}
	abortSwitch := func(why string) {
		e.log.Warn("encoder change abandoned", "reason", why)
		e.outMu.Lock()
		e.out.pending = nil
		e.out.requested = nil
		e.out.resetSwitch()
		e.flushHeld(1 << 62)
		e.outMu.Unlock()
		retire(pending)
		pending = nil
	}
	doneOf := func(in *instance) <-chan struct{} {
		if in == nil || in.stopping {
			return nil
		}
		return in.done
	}

	for {
		select {
		case <-ctx.Done():
			return nil

		case o := <-e.wantCh:
			if pending != nil {
				// The replacement's cut will come later than the one
				// planned: what the running encoder made meanwhile
				// goes out now rather than in a burst at the new cut.
				e.outMu.Lock()
				e.out.pending = nil
				e.out.resetSwitch()
				e.flushHeld(1 << 62)
				e.outMu.Unlock()
				retire(pending)
				pending = nil
			}
			lead := time.Duration(0)
			if e.cfg.LiveSwitch {
				// Cut over as soon as ffmpeg will have started, judged
				// by how long the last ones took (a late keyframe
				// pauses output for the difference): a cut is usually
				// a link in trouble, and a climb runs two encoders
				// until it lands.
				e.outMu.Lock()
				lead = cutLeadFor(e.startup)
				e.outMu.Unlock()
			}
			in, err := e.startInstance(nextID, o, codec, lead)
			nextID++
			if err != nil {
				e.log.Error("encoder change failed to start", "err", err)
				continue
			}
			pending = in
			e.log.Debug("encoder change planned", "instance", in.id, "output", o, "lead", lead)
			e.outMu.Lock()
			e.out.pending = in
			e.out.resetSwitch()
			e.outMu.Unlock()

		case <-e.out.switched:
			// pending became active inside completeSwitch.
			e.outMu.Lock()
			now := e.out.active
			e.outMu.Unlock()
			if now == pending {
				retire(active)
				active, pending = now, nil
				current = active.out
			}

		case <-doneOf(active):
			e.log.Warn("encoder died, restarting", "instance", active.id, "err", active.err, "backoff", backoff)
			active.stopping = true
			active.stop()
			retired = append(retired, active)
			if pending == nil {
				needRestart, restartAt = true, time.Now().Add(backoff)
			}
			if time.Since(active.started) > 10*time.Second {
				backoff = 100 * time.Millisecond
			} else {
				backoff = min(2*backoff, e.cfg.MaxBackoff)
			}
			e.outMu.Lock()
			e.stats.Restarts++
			e.out.activeGone = true
			if e.out.pending != nil && len(e.out.pendingVideo) > 0 {
				e.takeOver(e.out.pending) // nothing more will come from the dead one
			}
			e.outMu.Unlock()

		case <-doneOf(pending):
			abortSwitch(fmt.Sprintf("new encoder exited: %v", pending.err))
			if active.stopping && !needRestart {
				needRestart, restartAt = true, time.Now().Add(backoff)
			}

		case <-ticker.C:
			due := int64(time.Since(runStart) / interval)
			for ; tick <= due; tick++ {
				frame, pcm := e.tickInputs(tick)
				for _, in := range []*instance{active, pending} {
					if in == nil || in.stopping || !e.beginFeeding(in, tickTime(tick)) {
						continue
					}
					if !in.feed(frame, pcm) {
						e.log.Warn("encoder stalled, killing it", "instance", in.id)
						in.cancel() // its done channel then takes the crash path
					}
				}
				frame.release()
			}
			if pending != nil && time.Since(pending.started) > e.cfg.SwitchTimeout {
				abortSwitch("new encoder produced no keyframe in time")
				if active.stopping && !needRestart {
					needRestart, restartAt = true, time.Now().Add(backoff)
				}
			}
			if needRestart && !time.Now().Before(restartAt) {
				in, err := e.startInstance(nextID, current, codec, 0)
				nextID++
				if err != nil {
					e.log.Error("encoder restart failed", "err", err)
					restartAt = time.Now().Add(backoff)
					backoff = min(2*backoff, e.cfg.MaxBackoff)
					continue
				}
				needRestart = false
				active = in
				e.outMu.Lock()
				e.out.active = in
				e.out.activeGone = false
				e.outMu.Unlock()
			}
			e.reapRetired(&retired)
		}
	}
}

// beginFeeding reports whether in takes tick at; the first time it does,
// its timeline is anchored there (the warm-up frame a tick before). An
// instance that has not begun reading within startTimeout is killed (its
// done channel then takes the crash or abandoned-switch path).
func (e *Encoder) beginFeeding(in *instance, at time.Duration) bool {
	if in.fed {
		return true
	}
	select {
	case <-in.ready:
	default:
		if time.Since(in.started) > startTimeout {
			e.log.Warn("encoder did not start reading, killing it", "instance", in.id)
			in.cancel()
		}
		return false
	}
	in.fed = true
	e.outMu.Lock()
	defer e.outMu.Unlock()
	in.start = at - e.cfg.Input.Interval()
	in.readyAt = time.Now()
	if in.lead > 0 {
		in.cutAt = in.start + in.lead
	}
	in.anchored = true
	for _, u := range in.early {
		e.videoLocked(in, u)
	}
	in.early = nil
	return true
}

// blackFrame is a black I420 picture from the pool.
func (e *Encoder) blackFrame() *rawFrame {
	f := e.pool.get()
	n := e.cfg.Input.Width * e.cfg.Input.Height
	clear(f.data[:n])
	for i := n; i < len(f.data); i++ {
		f.data[i] = 128
	}
	return f
}

// warmUp is the first frame and audio a new instance gets: the latest
// picture (black before there is one) and a tick of silence.
func (e *Encoder) warmUp() (*rawFrame, []byte) {
	e.inMu.Lock()
	f := e.latest
	if f != nil {
		f.retain()
	}
	e.inMu.Unlock()
	if f == nil {
		f = e.blackFrame()
	}
	au := e.cfg.Audio
	return f, make([]byte, 2*au.Channels*(au.SampleRate/e.cfg.Input.FPS))
}

// reapRetired forgets instances whose processes are gone.
func (e *Encoder) reapRetired(retired *[]*instance) {
	kept := (*retired)[:0]
	for _, in := range *retired {
		select {
		case <-in.done:
		default:
			kept = append(kept, in)
		}
	}
	*retired = kept
}

// tickInputs returns the picture for tick k (the latest, retained for the
// caller; nil before the first frame) and its share of audio, padded with
// silence or trimmed so audio and video advance together.
func (e *Encoder) tickInputs(k int64) (*rawFrame, []byte) {
	au := e.cfg.Audio
	fps := int64(e.cfg.Input.FPS)
	rate := int64(au.SampleRate)
	frames := int((k+1)*rate/fps - k*rate/fps)
	want := frames * au.Channels

	e.inMu.Lock()
	f := e.latest
	repeated := f != nil && !e.fresh
	if f != nil {
		f.retain()
		e.fresh = false
	}
	have := min(want, len(e.pcm))
	pcm := make([]byte, 2*want)
	for i := 0; i < have; i++ {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(e.pcm[i]))
	}
	e.pcm = append(e.pcm[:0], e.pcm[have:]...)
	e.inMu.Unlock()

	if f == nil {
		// Nothing to show yet: a black picture keeps the clock running.
		f = e.blackFrame()
	}
	e.outMu.Lock()
	if repeated {
		e.stats.FramesRepeated++
	}
	if have < want {
		e.stats.SilencePadded += int64((want - have) / au.Channels)
	}
	e.outMu.Unlock()
	return f, pcm
}
