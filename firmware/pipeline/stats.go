package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/cunbo/cunbo/stream/encode"
	"github.com/cunbo/cunbo/stream/fanout"
	"github.com/cunbo/cunbo/stream/record"
	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/whip"
)

// OutputStats is one output's state.
type OutputStats struct {
	Name  string
	Queue fanout.QueueStats
	// RTMP or WHIP is set for publishers.
	RTMP *rtmp.Stats
	WHIP *whip.Stats
	// Destination is the publisher's destination name, URL its address
	// with the stream key or path removed.
	Destination string
	URL         string
}

// Stats is a snapshot of the whole pipeline.
type Stats struct {
	Live bool
	// Paused: capture and encoder stopped because nobody needed them;
	// Pauses and Resumes count those transitions.
	Paused          bool
	Pauses, Resumes int64
	FramesCaptured  int64
	CaptureErrors   int64
	Encoder         encode.Stats
	Outputs         []OutputStats
	PreviewReaders  int
	Recorder        *record.Stats // nil when recording is off
	AudioTapDrops   int64
	Card            Card
	// Video is the encoder's output now and whether adaptation moves it.
	Video VideoStatus
	// Destinations is every publisher's state while live, in
	// configuration order.
	Destinations []DestinationStats
	// LinkEvents counts network changes that kicked the publishers.
	LinkEvents int64
}

// Stats returns a snapshot.
func (p *Pipeline) Stats() Stats {
	s := Stats{
		Paused:         p.paused.Load(),
		Pauses:         p.pauses.Load(),
		Resumes:        p.resumes.Load(),
		FramesCaptured: p.framesIn.Load(),
		CaptureErrors:  p.captureErrors.Load(),
		Encoder:        p.enc.Stats(),
		Card:           p.Card(),
		LinkEvents:     p.linkEvents.Load(),
	}
	s.Video = p.videoStatus(s.Encoder)
	p.liveMu.Lock()
	s.Live = p.live
	live := append([]*publisher(nil), p.pubs...)
	p.liveMu.Unlock()
	pubs := map[string]*publisher{}
	for _, pp := range live {
		pubs[pp.name] = pp
		s.Destinations = append(s.Destinations, pp.stats())
	}
	for _, o := range p.fan.Outputs() {
		os := OutputStats{Name: o.Name(), Queue: o.Stats()}
		if pp := pubs[o.Name()]; pp != nil {
			os.Destination, os.URL = pp.dest.Name, pp.dest.shownURL()
			if pp.rtmp != nil {
				st := pp.rtmp.Stats()
				os.RTMP = &st
			} else {
				st := pp.whip.Stats()
				os.WHIP = &st
			}
		}
		s.Outputs = append(s.Outputs, os)
	}
	if p.preview != nil {
		s.PreviewReaders = p.preview.Readers()
	}
	if p.rec != nil {
		rs := p.rec.Stats()
		s.Recorder = &rs
	}
	p.tapMu.Lock()
	for _, t := range p.taps {
		s.AudioTapDrops += t.dropped.Load()
	}
	p.tapMu.Unlock()
	return s
}

// stallLimit is how long without frames counts as frozen.
const stallLimit = 2 * time.Second

// Healthy reports nil while frames are flowing: the camera delivered one
// and the encoder produced video within the last 2 s, or capture and the
// encoder are paused by design because nobody needs them. The systemd
// watchdog uses it.
func (p *Pipeline) Healthy() error {
	if !p.running.Load() {
		return errors.New("pipeline: not running")
	}
	if p.paused.Load() {
		return nil
	}
	now := time.Now()
	if d := now.Sub(time.Unix(0, p.lastFrame.Load())); d > stallLimit {
		return fmt.Errorf("pipeline: no camera frame for %v", d.Round(time.Millisecond))
	}
	if d := now.Sub(time.Unix(0, p.lastVideo.Load())); p.lastVideo.Load() != 0 && d > stallLimit {
		return fmt.Errorf("pipeline: no encoded video for %v", d.Round(time.Millisecond))
	} else if p.lastVideo.Load() == 0 && now.Sub(time.Unix(0, p.runStart.Load())) > 3*stallLimit {
		return errors.New("pipeline: encoder has produced no video")
	}
	return nil
}

func (p *Pipeline) noteVideo() { p.lastVideo.Store(time.Now().UnixNano()) }
