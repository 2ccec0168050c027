// Package stream turns raw frames into an encoded stream and fans it out to
// the box's outputs: RTMP and WHIP publishers, the local preview and the
// recorder.
package stream

import "time"

// VideoUnit is one H.264 access unit on the pipeline clock.
type VideoUnit struct {
	PTS, DTS time.Duration
	// NALUs without start codes or length prefixes.
	NALUs [][]byte
	// Key is true for an IDR access unit; outputs join at keys.
	Key bool
}

// AudioUnit is one AAC access unit (raw, no ADTS header) on the pipeline clock.
type AudioUnit struct {
	PTS  time.Duration
	Data []byte
}

// Tracks describes the codec parameters every output needs before the first
// unit: the H.264 parameter sets and the AAC AudioSpecificConfig.
type Tracks struct {
	Width, Height int
	FPS           int
	SPS, PPS      []byte
	// AudioConfig is the encoded MPEG-4 AudioSpecificConfig.
	AudioConfig []byte
	SampleRate  int
	Channels    int
}

// Sink receives the encoded stream. Implementations must not block the
// encoder: each output keeps its own bounded queue and drops (and counts)
// rather than stall the others. Units are shared between sinks and must be
// treated as read-only.
type Sink interface {
	SetTracks(t Tracks)
	WriteVideo(u *VideoUnit)
	WriteAudio(u *AudioUnit)
}
