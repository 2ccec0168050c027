package hw

import (
	"context"
	"fmt"
	"math"
	"time"
)

// pcmPacer releases synthetic samples no faster than real time: a read
// returns once the last sample it hands out would have been captured.
type pcmPacer struct {
	format AudioFormat
	epoch  time.Time
	frames int64 // sample frames handed out so far
}

// maxReadDuration keeps reads short, like a microphone's ALSA period.
const maxReadDuration = 20 * time.Millisecond

// maxBehind is how far a reader may fall behind real time before the
// samples it missed are dropped; stalls of a loaded machine stay far below.
const maxBehind = 5 * time.Second

func newPCMPacer(f AudioFormat, epoch time.Time) pcmPacer {
	return pcmPacer{format: f, epoch: epochOr(epoch)}
}

// take waits until up to want samples (whole frames) are due and returns
// how many to produce.
func (p *pcmPacer) take(ctx context.Context, want int) (int, error) {
	ch := p.format.Channels
	frames := int64(want / ch)
	if frames == 0 {
		return 0, fmt.Errorf("hw: buffer of %d samples holds no %d-channel frame", want, ch)
	}
	frames = min(frames, int64(p.format.SampleRate)*int64(maxReadDuration)/int64(time.Second))
	if behind := time.Since(p.epoch) - time.Duration(p.frames*int64(time.Second)/int64(p.format.SampleRate)); behind > maxBehind {
		// Nobody read for a long time (an idle pipeline paused): like a
		// real microphone's overrun, those samples are gone, rather than
		// handed out in a burst that would run ahead of the clock.
		p.frames += int64(behind-maxReadDuration) * int64(p.format.SampleRate) / int64(time.Second)
	}
	due := p.epoch.Add(time.Duration((p.frames + frames) * int64(time.Second) / int64(p.format.SampleRate)))
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	} else if err := ctx.Err(); err != nil {
		return 0, err
	}
	p.frames += frames
	return int(frames) * ch, nil
}

// ToneConfig configures a Tone.
type ToneConfig struct {
	Format AudioFormat
	// Frequency in Hz, default 1000.
	Frequency float64
	// Level is the peak amplitude as a fraction of full scale, default 0.25.
	Level float64
	Epoch time.Time
}

// Tone is a sine test tone on every channel, paced at real time.
type Tone struct {
	format AudioFormat
	step   float64 // phase advance per sample frame, radians
	amp    float64
	phase  float64
	pacer  pcmPacer
}

// NewTone validates the configuration.
func NewTone(cfg ToneConfig) (*Tone, error) {
	f := cfg.Format
	if f.SampleRate < 8000 || f.SampleRate > 192000 || f.Channels < 1 || f.Channels > 8 {
		return nil, fmt.Errorf("hw: tone: unsupported format %d Hz × %d channels", f.SampleRate, f.Channels)
	}
	freq := cfg.Frequency
	if freq == 0 {
		freq = 1000
	}
	if freq < 0 || freq >= float64(f.SampleRate)/2 {
		return nil, fmt.Errorf("hw: tone: frequency %g Hz outside (0, %d)", freq, f.SampleRate/2)
	}
	level := cfg.Level
	if level == 0 {
		level = 0.25
	}
	if level < 0 || level > 1 {
		return nil, fmt.Errorf("hw: tone: level %g outside [0, 1]", level)
	}
	return &Tone{
		format: f,
		step:   2 * math.Pi * freq / float64(f.SampleRate),
		amp:    level * math.MaxInt16,
		pacer:  newPCMPacer(f, cfg.Epoch),
	}, nil
}

// Format implements AudioSource.
func (t *Tone) Format() AudioFormat { return t.format }

// ReadPCM implements AudioSource.
func (t *Tone) ReadPCM(ctx context.Context, buf []int16) (int, error) {
	n, err := t.pacer.take(ctx, len(buf))
	if err != nil {
		return 0, err
	}
	ch := t.format.Channels
	for i := 0; i < n; i += ch {
		v := int16(t.amp * math.Sin(t.phase))
		for c := 0; c < ch; c++ {
			buf[i+c] = v
		}
		t.phase += t.step
		if t.phase > 2*math.Pi {
			t.phase -= 2 * math.Pi
		}
	}
	return n, nil
}

// Close implements AudioSource.
func (t *Tone) Close() error { return nil }
