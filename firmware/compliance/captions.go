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
)

// Captions runs the speech worker's supervisor for the box and feeds its
// captions to a Loop. The stream never depends on it: the audio tap never
// blocks, and without a model the box streams with captions off and says why.
type Captions struct {
	sup  *speech.Supervisor
	loop *Loop
	in   hw.AudioFormat

	mismatched atomic.Uint64
	warnOnce   sync.Once
}

// NewCaptions builds the supervisor from cfg (its Input must be the
// microphone format the audio tap delivers) with its captions going to loop.
// cfg.OnCaption is taken over.
func NewCaptions(cfg speech.Config, loop *Loop) (*Captions, error) {
	if loop == nil {
		return nil, errors.New("compliance: NewCaptions needs a Loop")
	}
	if cfg.Input.SampleRate == 0 {
		cfg.Input = hw.AudioFormat{SampleRate: 48000, Channels: 2}
	}
	cfg.OnCaption = loop.Caption
	sup, err := speech.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Captions{sup: sup, loop: loop, in: cfg.Input}, nil
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
// and counted: the resampler was built for one format.
func (c *Captions) AudioTap(pts time.Duration, pcm []int16, rate, ch int) {
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
}

// Status reports whether captions are checked, and if not, why.
func (c *Captions) Status() CaptionStatus {
	st := c.sup.Status()
	out := CaptionStatus{On: st.State == speech.StateOn, Family: st.Family, Restarts: st.Restarts}
	switch st.State {
	case speech.StateStarting:
		out.Reason = "正在加载语音模型"
	case speech.StateRestarting, speech.StateOff:
		out.Reason = chineseReason(st.Reason)
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
