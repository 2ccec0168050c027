package compliance

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/speech"
	"github.com/cunbo/cunbo/speech/resample"
)

// Captions runs the speech worker's supervisor for the box and feeds its
// captions to a Loop. The stream never depends on it: the audio tap never
// blocks, and without a model the box streams with captions off and says why.
// The microphone is heard only while she is live (Listen): off air nothing
// she says is transcribed, judged or kept.
type Captions struct {
	sup  *speech.Supervisor
	loop *Loop
	in   hw.AudioFormat
	// follow: the input format is whatever the tap delivers; the audio is
	// converted to 16 kHz mono here, the supervisor's own input format.
	follow bool
	conv   tapConverter

	listen atomic.Int32 // a Listening
	// Owned by the tap's goroutine: whether the last chunk was heard, and
	// how much silence is still owed to the worker after going off air.
	heard   bool
	owed    time.Duration
	silence []int16

	mismatched atomic.Uint64
	warnOnce   sync.Once
}

// Listening says when the microphone is checked.
type Listening int32

const (
	// ListenOff: not live. Nothing is heard.
	ListenOff Listening = iota
	// ListenLive: live on air.
	ListenLive
	// ListenPractice: rehearsing off air with warnings; heard like
	// ListenLive, and the moments it flags are marked as a practice's.
	ListenPractice
)

// offAirSilence is what the worker hears after the microphone is shut:
// more than the VAD's 0.3 s of silence, so an utterance cut off by going
// off air ends and is judged instead of joining the next session's first.
const offAirSilence = time.Second

// Listen sets when the microphone is heard: the box calls it as she goes
// live and ends. It never blocks. It also tells the loop whether what it
// hears from now on is a practice's (Loop.Practising); going off air
// leaves that as it was, since the last words are judged after it.
func (c *Captions) Listen(l Listening) {
	switch l {
	case ListenLive:
		c.loop.Practising(false)
	case ListenPractice:
		c.loop.Practising(true)
	}
	c.listen.Store(int32(l))
}

// Listening is the current setting.
func (c *Captions) Listening() Listening { return Listening(c.listen.Load()) }

// tapConverter turns tap chunks of any format into 16 kHz mono with
// timestamps that run on from the first chunk (the resampler keeps its
// state across chunks, so the output does not line up with them).
type tapConverter struct {
	rs       *resample.Resampler
	base     time.Duration // pts of the first input sample since reset
	fed      int64         // input frames since reset
	produced int64         // output samples since reset
	out      []int16
}

const speechRate = 16000

// NewCaptions builds the supervisor from cfg with its captions going to
// loop. cfg.Input is the microphone format the audio tap delivers; left
// zero, any format is accepted and converted here. cfg.OnCaption is taken
// over.
func NewCaptions(cfg speech.Config, loop *Loop) (*Captions, error) {
	if loop == nil {
		return nil, errors.New("compliance: NewCaptions needs a Loop")
	}
	follow := cfg.Input.SampleRate == 0
	if follow {
		cfg.Input = hw.AudioFormat{SampleRate: speechRate, Channels: 1}
	}
	cfg.OnCaption = loop.Caption
	sup, err := speech.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Captions{sup: sup, loop: loop, in: cfg.Input, follow: follow}, nil
}

// Run supervises the worker and runs the loop until ctx ends.
func (c *Captions) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.sup.Run(ctx)
	}()
	err := c.loop.Run(ctx)
	wg.Wait()
	return err
}

// AudioTap takes the pipeline's microphone audio (pipeline.AudioTap's
// callback). Audio in a format other than the configured input is dropped
// and counted: the resampler was built for one format. While not
// listening, the audio goes nowhere.
func (c *Captions) AudioTap(pts time.Duration, pcm []int16, rate, ch int) {
	if c.Listening() == ListenOff {
		if c.heard {
			c.heard, c.owed = false, offAirSilence
		}
		if c.owed <= 0 || ch <= 0 || rate <= 0 {
			return
		}
		c.owed -= time.Duration(len(pcm)/ch) * time.Second / time.Duration(rate)
		if cap(c.silence) < len(pcm) {
			c.silence = make([]int16, len(pcm))
		}
		pcm = c.silence[:len(pcm)]
	} else {
		c.heard = true
	}
	c.feed(pts, pcm, rate, ch)
}

func (c *Captions) feed(pts time.Duration, pcm []int16, rate, ch int) {
	if c.follow && (rate != speechRate || ch != 1) {
		if out, at, ok := c.conv.convert(pts, pcm, rate, ch); ok {
			if len(out) > 0 {
				c.sup.WritePCM(at, out)
			}
			return
		}
		c.mismatched.Add(uint64(len(pcm)))
		return
	}
	if rate != c.in.SampleRate || ch != c.in.Channels {
		c.mismatched.Add(uint64(len(pcm)))
		c.warnOnce.Do(func() {
			c.loop.log.Error("captions: audio tap format differs from the speech input; dropping",
				"rate", rate, "channels", ch, "want_rate", c.in.SampleRate, "want_channels", c.in.Channels)
		})
		return
	}
	c.sup.WritePCM(pts, pcm)
}

// Loop is the compliance loop the captions go to.
func (c *Captions) Loop() *Loop { return c.loop }

// Speech is the supervisor's full status (for logs and the trainer).
func (c *Captions) Speech() speech.Status { return c.sup.Status() }

// CaptionStatus is the captions' state for the phone page.
type CaptionStatus struct {
	On bool `json:"on"`
	// Reason says, in short plain Chinese, why captions are off or paused:
	// "没有安装语音识别模型".
	Reason string `json:"reason,omitempty"`
	// Family is the recogniser's model family when on.
	Family   string `json:"family,omitempty"`
	Restarts int    `json:"restarts"`
	// FlaggedLost counts flagged segments never uploaded that the store's
	// quota had to delete (flagged.Stats.PendingEvicted): the phone page
	// should say so.
	FlaggedLost uint64 `json:"flagged_lost,omitempty"`
}

// NotListening is the reason captions are off while she is not live.
const NotListening = "开播后才听"

// Status reports whether captions are checked, and if not, why.
func (c *Captions) Status() CaptionStatus {
	st := c.sup.Status()
	out := CaptionStatus{On: st.State == speech.StateOn, Family: st.Family, Restarts: st.Restarts,
		FlaggedLost: c.loop.Stats().FlaggedLost}
	switch st.State {
	case speech.StateStarting:
		out.Reason = "正在加载语音模型"
	case speech.StateRestarting, speech.StateOff:
		out.Reason = chineseReason(st.Reason)
	case speech.StateOn:
		if c.Listening() == ListenOff {
			out.On, out.Reason = false, NotListening
		}
	}
	return out
}

// chineseReason keeps the streamer's part of a supervisor reason:
// "字幕已关闭：没有安装语音识别模型 (captions off: …)" → "没有安装语音识别模型".
func chineseReason(r string) string {
	if i := strings.Index(r, " ("); i >= 0 {
		r = r[:i]
	}
	if i := strings.Index(r, "："); i >= 0 {
		r = r[i+len("："):]
	}
	return strings.TrimSpace(r)
}

// convert resamples one tap chunk; ok is false for a format the resampler
// cannot take. A timestamp jump (audio dropped upstream) or a format change
// starts afresh so the output's timestamps stay true.
func (t *tapConverter) convert(pts time.Duration, pcm []int16, rate, ch int) (out []int16, at time.Duration, ok bool) {
	if t.rs == nil || t.rs.InRate() != rate || t.rs.Channels() != ch {
		rs, err := resample.New(rate, ch, speechRate)
		if err != nil {
			return nil, 0, false
		}
		t.rs, t.fed, t.produced, t.base = rs, 0, 0, pts
	}
	if want := t.base + time.Duration(t.fed*int64(time.Second)/int64(rate)); (pts - want).Abs() > 20*time.Millisecond {
		t.rs.Reset()
		t.fed, t.produced, t.base = 0, 0, pts
	}
	at = t.base + time.Duration(t.produced*int64(time.Second)/speechRate)
	t.out = t.rs.Process(t.out[:0], pcm)
	t.fed += int64(len(pcm) / ch)
	t.produced += int64(len(t.out))
	return t.out, at, true
}
