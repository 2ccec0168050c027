// Package tsdemux turns an MPEG-TS byte stream carrying H.264 and AAC (what
// ffmpeg writes on a pipe) into stream.Tracks, stream.VideoUnit and
// stream.AudioUnit values.
//
// Timestamps are the muxer's own (33-bit 90 kHz counters unwrapped into a
// continuous time.Duration); callers map them onto the pipeline clock,
// usually with one offset per ffmpeg instance.
package tsdemux

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	mpegtscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/cunbo/cunbo/stream"
)

// Handler receives what the demuxer finds. Nil funcs are skipped. Calls come
// from the goroutine running Demux, in stream order.
type Handler struct {
	// Tracks is called before the first unit and again whenever the
	// parameter sets change (e.g. a new resolution).
	Tracks func(stream.Tracks)
	Video  func(*stream.VideoUnit)
	Audio  func(*stream.AudioUnit)
	// DecodeError reports damaged packets that were skipped.
	DecodeError func(error)
}

// ErrNoVideo is returned when the stream's program has no H.264 track.
var ErrNoVideo = errors.New("tsdemux: no H.264 track in MPEG-TS program")

// Demux reads r until EOF or a read error and reports what it finds to h.
// Video units before the first IDR (which carries SPS and PPS) and audio
// units before that are dropped, so every consumer starts at a keyframe
// with known tracks. A clean EOF returns nil. Cancel by closing r.
func Demux(r io.Reader, h Handler) error {
	tr := &mpegts.Reader{R: r}
	if err := tr.Initialize(); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("tsdemux: stream ended before its program table: %w", err)
		}
		return fmt.Errorf("tsdemux: read program table: %w", err)
	}
	d := &demuxer{h: h}
	tr.OnDecodeError(func(err error) {
		if h.DecodeError != nil {
			h.DecodeError(err)
		}
	})

	var videoTrack, audioTrack *mpegts.Track
	for _, t := range tr.Tracks() {
		switch c := t.Codec.(type) {
		case *mpegtscodecs.H264:
			if videoTrack == nil {
				videoTrack = t
			}
		case *mpegtscodecs.MPEG4Audio:
			if audioTrack == nil {
				audioTrack = t
				if err := d.setAudioConfig(&c.Config); err != nil {
					return err
				}
			}
		}
	}
	if videoTrack == nil {
		return ErrNoVideo
	}

	tr.OnDataH264(videoTrack, func(pts, dts int64, au [][]byte) error {
		d.video(d.videoPTS.Decode(pts), d.videoDTS.Decode(dts), au)
		return nil
	})
	if audioTrack != nil {
		tr.OnDataMPEG4Audio(audioTrack, func(pts int64, aus [][]byte) error {
			d.audio(d.audioPTS.Decode(pts), aus)
			return nil
		})
	}

	for {
		if err := tr.Read(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("tsdemux: read: %w", err)
		}
	}
}

type demuxer struct {
	h Handler

	videoPTS, videoDTS, audioPTS mpegts.TimeDecoder

	tracks     stream.Tracks
	tracksSent bool
	// firstVideoPTS gates audio: audio earlier than the first delivered
	// keyframe would have nothing to sync against.
	firstVideoPTS time.Duration
	// samplesPerAU spaces the AUs that share one PES (and one PTS).
	samplesPerAU int
	// early holds audio that arrived before the first keyframe was
	// complete: the demuxer sees a video PES only when the next one starts,
	// so audio overlapping the first frame arrives ahead of it.
	early []*stream.AudioUnit
}

// maxEarlyAudio bounds the audio held while waiting for the first keyframe.
const maxEarlyAudio = 256

func (d *demuxer) setAudioConfig(c *mpeg4audio.AudioSpecificConfig) error {
	asc, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("tsdemux: encode AudioSpecificConfig: %w", err)
	}
	d.tracks.AudioConfig = asc
	d.tracks.SampleRate = c.SampleRate
	d.tracks.Channels = c.ChannelCount //nolint:staticcheck // still the field mediacommon fills
	if c.ChannelConfig != 0 && d.tracks.Channels == 0 {
		d.tracks.Channels = int(c.ChannelConfig)
	}
	d.samplesPerAU = 1024
	if c.FrameLengthFlag {
		d.samplesPerAU = 960
	}
	return nil
}

// ticks converts an unwrapped 90 kHz count to a duration.
func ticks(v int64) time.Duration {
	return time.Duration(v) * time.Second / 90000
}

func (d *demuxer) video(pts, dts int64, au [][]byte) {
	var sps, pps []byte
	key := false
	nalus := make([][]byte, 0, len(au))
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		case h264.NALUTypeIDR:
			key = true
		case h264.NALUTypeAccessUnitDelimiter:
			continue
		}
		nalus = append(nalus, n)
	}
	if len(nalus) == 0 {
		return
	}
	if sps != nil && pps != nil && (!bytes.Equal(sps, d.tracks.SPS) || !bytes.Equal(pps, d.tracks.PPS)) {
		if err := d.updateVideoTracks(sps, pps); err != nil {
			if d.h.DecodeError != nil {
				d.h.DecodeError(err)
			}
		}
	}
	if !d.tracksSent {
		if !key || d.tracks.SPS == nil {
			return
		}
		d.tracksSent = true
		d.firstVideoPTS = ticks(pts)
		if d.h.Tracks != nil {
			d.h.Tracks(d.tracks)
		}
		if d.h.Video != nil {
			d.h.Video(&stream.VideoUnit{PTS: ticks(pts), DTS: ticks(dts), NALUs: nalus, Key: key})
		}
		for _, a := range d.early {
			if a.PTS >= d.firstVideoPTS && d.h.Audio != nil {
				d.h.Audio(a)
			}
		}
		d.early = nil
		return
	}
	if d.h.Video != nil {
		d.h.Video(&stream.VideoUnit{PTS: ticks(pts), DTS: ticks(dts), NALUs: nalus, Key: key})
	}
}

func (d *demuxer) updateVideoTracks(sps, pps []byte) error {
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return fmt.Errorf("tsdemux: bad SPS: %w", err)
	}
	d.tracks.SPS = bytes.Clone(sps)
	d.tracks.PPS = bytes.Clone(pps)
	d.tracks.Width, d.tracks.Height = s.Width(), s.Height()
	if fps := s.FPS(); fps > 0 && !math.IsInf(fps, 0) && !math.IsNaN(fps) {
		d.tracks.FPS = int(math.Round(fps))
	}
	if d.tracksSent && d.h.Tracks != nil {
		d.h.Tracks(d.tracks)
	}
	return nil
}

func (d *demuxer) audio(pts int64, aus [][]byte) {
	if d.h.Audio == nil || d.tracks.SampleRate <= 0 {
		return
	}
	for i, au := range aus {
		// One PES may pack several AUs; only the first carries the PTS.
		u := &stream.AudioUnit{
			PTS:  ticks(pts) + time.Duration(i*d.samplesPerAU)*time.Second/time.Duration(d.tracks.SampleRate),
			Data: au,
		}
		switch {
		case !d.tracksSent:
			if len(d.early) == maxEarlyAudio {
				d.early = append(d.early[:0], d.early[1:]...)
			}
			d.early = append(d.early, u)
		case u.PTS >= d.firstVideoPTS:
			d.h.Audio(u)
		}
	}
}
