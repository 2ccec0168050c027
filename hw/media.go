// Package hw holds the box's hardware edges: camera and microphone sources,
// buttons, ring light and status LED, each behind a small interface with a
// fake for tests and the simulator.
package hw

import (
	"context"
	"time"
)

// Frame is one planar I420 (YUV 4:2:0) picture. Strides equal the plane
// widths: Y is Width×Height, U and V are (Width/2)×(Height/2). Frames are
// owned by the caller and refilled in place so capture allocates nothing.
type Frame struct {
	Width, Height int
	Y, U, V       []byte
	// PTS is the capture time on the pipeline clock (time since the
	// pipeline started), so audio and video share one timeline.
	PTS time.Duration
}

// NewFrame allocates a black I420 frame of the given even size.
func NewFrame(width, height int) *Frame {
	f := &Frame{Width: width, Height: height}
	f.Y = make([]byte, width*height)
	f.U = make([]byte, (width/2)*(height/2))
	f.V = make([]byte, (width/2)*(height/2))
	for i := range f.U {
		f.U[i], f.V[i] = 128, 128
	}
	return f
}

// VideoFormat describes what a VideoSource produces.
type VideoFormat struct {
	Width, Height int
	FPS           int
}

// VideoSource yields I420 frames paced in real time.
type VideoSource interface {
	Format() VideoFormat
	// ReadFrame blocks until the next frame and writes it into f, which
	// must have the source's size.
	ReadFrame(ctx context.Context, f *Frame) error
	Close() error
}

// AudioFormat describes interleaved signed 16-bit little-endian PCM.
type AudioFormat struct {
	SampleRate int
	Channels   int
}

// AudioSource yields interleaved S16 PCM paced in real time.
type AudioSource interface {
	Format() AudioFormat
	// ReadPCM blocks until samples are available and fills buf with whole
	// sample frames, returning how many int16 values were written.
	ReadPCM(ctx context.Context, buf []int16) (int, error)
	Close() error
}
