package hw

import (
	"errors"
	"fmt"
	"time"
)

// ErrNoDevice means a camera or microphone is not present (unplugged,
// wrong device path, not detected by the driver).
var ErrNoDevice = errors.New("device not present")

// Validate reports whether a source can produce this format: even
// dimensions (I420 subsamples by two) within what the Pi can encode.
func (f VideoFormat) Validate() error {
	switch {
	case f.Width <= 0 || f.Height <= 0 || f.Width%2 != 0 || f.Height%2 != 0:
		return fmt.Errorf("hw: video size %dx%d must be positive and even", f.Width, f.Height)
	case f.Width > 4096 || f.Height > 4096:
		return fmt.Errorf("hw: video size %dx%d larger than 4096", f.Width, f.Height)
	case f.FPS < 1 || f.FPS > 120:
		return fmt.Errorf("hw: frame rate %d outside 1..120", f.FPS)
	}
	return nil
}

// FrameSize is the byte size of one I420 frame in this format.
func (f VideoFormat) FrameSize() int { return f.Width*f.Height + 2*(f.Width/2)*(f.Height/2) }

// Interval is the time between frames.
func (f VideoFormat) Interval() time.Duration { return time.Second / time.Duration(f.FPS) }

func checkFrame(f *Frame, vf VideoFormat) error {
	if f == nil || f.Width != vf.Width || f.Height != vf.Height ||
		len(f.Y) < vf.Width*vf.Height || len(f.U) < (vf.Width/2)*(vf.Height/2) || len(f.V) < (vf.Width/2)*(vf.Height/2) {
		return fmt.Errorf("hw: frame does not match source format %dx%d", vf.Width, vf.Height)
	}
	return nil
}

// pipelineTime is now on a clock that starts at epoch (zero epoch: start).
func pipelineTime(epoch time.Time) time.Duration { return time.Since(epoch) }

func epochOr(epoch time.Time) time.Time {
	if epoch.IsZero() {
		return time.Now()
	}
	return epoch
}
