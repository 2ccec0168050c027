package streamtest

import (
	"sync"

	"github.com/cunbo/cunbo/stream"
)

// Recorder is a stream.Sink that keeps every call, safe for concurrent use.
// The zero value is ready.
type Recorder struct {
	mu     sync.Mutex
	tracks []stream.Tracks
	video  []*stream.VideoUnit
	audio  []*stream.AudioUnit
	// Order records the call sequence: 't' tracks, 'v' video, 'a' audio.
	order []byte
}

// SetTracks implements stream.Sink.
func (r *Recorder) SetTracks(t stream.Tracks) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tracks = append(r.tracks, t)
	r.order = append(r.order, 't')
}

// WriteVideo implements stream.Sink.
func (r *Recorder) WriteVideo(u *stream.VideoUnit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.video = append(r.video, u)
	r.order = append(r.order, 'v')
}

// WriteAudio implements stream.Sink.
func (r *Recorder) WriteAudio(u *stream.AudioUnit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.audio = append(r.audio, u)
	r.order = append(r.order, 'a')
}

// Tracks returns every SetTracks call so far, oldest first.
func (r *Recorder) Tracks() []stream.Tracks {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stream.Tracks(nil), r.tracks...)
}

// Video returns the video units so far.
func (r *Recorder) Video() []*stream.VideoUnit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*stream.VideoUnit(nil), r.video...)
}

// Audio returns the audio units so far.
func (r *Recorder) Audio() []*stream.AudioUnit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*stream.AudioUnit(nil), r.audio...)
}

// Order returns the call sequence so far ('t', 'v', 'a').
func (r *Recorder) Order() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.order)
}
