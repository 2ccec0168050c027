package main

import (
	"time"

	sherpa "github.com/k2-fsa/sherpa-onnx-go/sherpa_onnx"

	"github.com/cunbo/cunbo/speech/wire"
)

// pipeline cuts a continuous 16 kHz stream into utterances with the VAD and
// recognises each. Sample indexes count from the first sample it was fed;
// clock maps them to pipeline time.
type pipeline struct {
	vad *sherpa.VoiceActivityDetector
	eng engine // nil: VAD only, segments carry no text
	// partialEvery is how many samples of speech pass between partial
	// results; 0 disables partials.
	partialEvery int
	clock        *clock
	emit         func(wire.Segment)

	pending []float32 // less than one VAD window
	fed     int64     // samples given to the VAD
	history []float32 // the last preroll samples, for the utterance start
	sess    session
	uttFrom int64 // sample index where sess's audio begins
	since   int   // speech samples since the last partial
	lastTxt string
}

// preroll is how much audio before the VAD fires is given to a streaming
// session: Silero needs a few windows to become confident.
const preroll = wire.SampleRate / 2

func (p *pipeline) accept(samples []float32) {
	p.pending = append(p.pending, samples...)
	n := 0
	for ; n+vadWindow <= len(p.pending); n += vadWindow {
		p.step(p.pending[n : n+vadWindow])
	}
	p.pending = append(p.pending[:0], p.pending[n:]...)
}

func (p *pipeline) step(w []float32) {
	p.vad.AcceptWaveform(w)
	p.fed += int64(len(w))
	p.history = append(p.history, w...)
	if over := len(p.history) - preroll; over > preroll {
		p.history = append(p.history[:0], p.history[over:]...)
	}

	if p.eng != nil {
		switch speech := p.vad.IsSpeech(); {
		case speech && p.sess == nil:
			p.sess = p.eng.newSession()
			pre := p.history[max(0, len(p.history)-preroll):]
			p.sess.accept(pre)
			p.uttFrom = p.fed - int64(len(pre))
			p.since, p.lastTxt = 0, ""
		case p.sess != nil:
			p.sess.accept(w)
			p.since += len(w)
		}
		if p.sess != nil && p.partialEvery > 0 && p.since >= p.partialEvery {
			p.since = 0
			if txt := p.sess.partial(); txt != "" && txt != p.lastTxt {
				p.lastTxt = txt
				p.emit(wire.Segment{
					Start: wire.Seconds(p.clock.at(p.uttFrom)),
					End:   wire.Seconds(p.clock.at(p.fed)),
					Text:  txt,
				})
			}
		}
	}
	p.drain()
}

func (p *pipeline) drain() {
	for !p.vad.IsEmpty() {
		seg := p.vad.Front()
		p.vad.Pop()
		text := ""
		if p.eng != nil {
			if p.sess == nil {
				// The VAD closed an utterance it never reported as
				// speech (e.g. at flush): give the session its audio.
				p.sess = p.eng.newSession()
				p.sess.accept(seg.Samples)
			}
			text = p.sess.final(seg.Samples)
			p.sess.close()
			p.sess = nil
		}
		start := int64(seg.Start)
		p.emit(wire.Segment{
			Start: wire.Seconds(p.clock.at(start)),
			End:   wire.Seconds(p.clock.at(start + int64(len(seg.Samples)))),
			Text:  text,
			Final: true,
		})
		p.clock.forget(start)
	}
}

// flush ends the stream: the VAD closes any utterance still open.
func (p *pipeline) flush() {
	if len(p.pending) > 0 {
		// Pad to a whole window so the tail reaches the VAD.
		w := make([]float32, vadWindow)
		copy(w, p.pending)
		p.pending = p.pending[:0]
		p.step(w)
	}
	p.vad.Flush()
	p.drain()
	if p.sess != nil {
		p.sess.close()
		p.sess = nil
	}
}

// clock maps sample indexes to pipeline time. The box stamps each PCM chunk
// with the time of its first sample; a new anchor is kept only where the
// stamps jump (audio dropped upstream), so a steady stream has one.
type clock struct {
	anchors []anchor
	next    int64 // index of the next sample to arrive
}

type anchor struct {
	index int64
	pts   time.Duration
}

// tolerance absorbs rounding in the box's timestamps.
const tolerance = 2 * time.Millisecond

func (c *clock) add(pts time.Duration, n int) {
	if len(c.anchors) == 0 || absDur(c.at(c.next)-pts) > tolerance {
		c.anchors = append(c.anchors, anchor{index: c.next, pts: pts})
	}
	c.next += int64(n)
}

func (c *clock) at(index int64) time.Duration {
	a := anchor{}
	if len(c.anchors) > 0 {
		a = c.anchors[0]
	}
	for i := len(c.anchors) - 1; i >= 0; i-- {
		if c.anchors[i].index <= index {
			a = c.anchors[i]
			break
		}
	}
	return a.pts + time.Duration(index-a.index)*time.Second/wire.SampleRate
}

// forget drops anchors no longer needed for indexes ≥ index.
func (c *clock) forget(index int64) {
	k := 0
	for k+1 < len(c.anchors) && c.anchors[k+1].index <= index {
		k++
	}
	c.anchors = c.anchors[k:]
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func durationOf(ns int64) time.Duration { return time.Duration(ns) }
