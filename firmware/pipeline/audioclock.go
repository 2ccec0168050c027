package pipeline

import "time"

// audioClock stamps microphone reads on the pipeline clock for the audio
// taps (the speech worker's captions are timed by it, and mapped to the
// recording's wall clock through the pipeline's epoch). It counts samples
// from the first read, so the stamps are as smooth as the sample clock.
// But a sample cannot have been captured after it was read: when the count
// runs ahead of the wall clock, the source handed over a backlog in a burst
// (a source started seconds after its epoch, a microphone's buffer after a
// stall), and counting from the first read's time labelled every later
// sample that much late — captions, and the flagged moments after them,
// seconds after the words. The count then restarts from the read's time.
type audioClock struct {
	rate    int
	base    time.Duration
	frames  int64
	started bool
	last    time.Duration // the last stamp: stamps only rise
}

// aheadSlack is how far the count may run ahead of the read's time before
// it is restarted: reads are 20 ms and their wake-ups jitter.
const aheadSlack = 10 * time.Millisecond

// stamp returns the pipeline time of the first of frames sample frames
// read at now (pipeline time).
func (c *audioClock) stamp(now time.Duration, frames int) time.Duration {
	dur := time.Duration(frames) * time.Second / time.Duration(c.rate)
	latest := now - dur // the chunk's first sample, captured no later
	if !c.started {
		c.base, c.frames, c.started = latest, 0, true
	}
	pts := c.base + time.Duration(c.frames)*time.Second/time.Duration(c.rate)
	if pts > latest+aheadSlack {
		pts = max(latest, c.last+time.Microsecond)
		c.base, c.frames = pts, 0
	}
	c.frames += int64(frames)
	c.last = pts
	return pts
}

// reset starts the count over at the next read (after a gap in reading).
func (c *audioClock) reset() { c.started = false }
