package record

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
)

// MaxClip bounds one clip's length; longer requests are refused rather
// than read hours of video into one file on a small box.
const MaxClip = 2 * time.Hour

// ErrNoMedia means nothing playable was recorded in the requested range.
var ErrNoMedia = errors.New("record: no recorded video in the requested range")

// ClipInfo describes a written clip.
type ClipInfo struct {
	// Start is the wall-clock time of the clip's first frame (the keyframe
	// at or before the requested start); End is where its video ends.
	Start, End  time.Time
	VideoFrames int
	AudioFrames int
	// Segments is how many segment files the clip was cut from.
	Segments int
	Bytes    int64
	// Truncated is set when the codec parameters changed inside the range
	// (a new picture size): the clip is the part on one side of the
	// change that covers more of the range.
	Truncated bool
}

// Clip writes the recording between from and to (wall clock, see WallTime)
// to out as one progressive MP4 with the moov first, so a browser can play
// it while it downloads. Nothing is re-encoded: the clip starts at the
// keyframe at or before from. It works across segment boundaries and on
// the segment still being written (up to its last durable fragment).
func (r *Recorder) Clip(ctx context.Context, from, to time.Time, out io.Writer) (ClipInfo, error) {
	return r.ClipAround(ctx, from, to, time.Time{}, out)
}

// ClipAround is Clip for a range around one moment, focus: when the
// range is split by a picture-size change, the clip is the part holding
// focus, so a flagged moment is never left out for the sake of a longer
// part beside it. A zero focus, or one no part holds, means Clip's rule.
func (r *Recorder) ClipAround(ctx context.Context, from, to, focus time.Time, out io.Writer) (ClipInfo, error) {
	switch {
	case !to.After(from):
		return ClipInfo{}, fmt.Errorf("record: clip end %v is not after start %v", to, from)
	case to.Sub(from) > MaxClip:
		return ClipInfo{}, fmt.Errorf("record: clip of %v is longer than %v", to.Sub(from), MaxClip)
	}
	id := r.Hold(from, to)
	defer r.Release(id)

	var picked []segment
	r.mu.Lock()
	for _, s := range r.segs {
		if !s.start.After(to) && !s.end().Before(from) {
			picked = append(picked, *s)
		}
	}
	r.mu.Unlock()

	// One MP4 carries one SPS/PPS: the range is split where the codec
	// parameters change, and the part covering most of it is written.
	parts := []*clipBuilder{{}}
	defer func() {
		for _, c := range parts {
			c.close()
		}
	}()
	for _, s := range picked {
		if err := ctx.Err(); err != nil {
			return ClipInfo{}, err
		}
		path := filepath.Join(r.cfg.Dir, s.name)
		same, err := parts[len(parts)-1].addSegment(path, s)
		if err != nil {
			return ClipInfo{}, err
		}
		if !same {
			c := &clipBuilder{}
			parts = append(parts, c)
			if _, err := c.addSegment(path, s); err != nil {
				return ClipInfo{}, err
			}
		}
	}
	best := parts[0]
	for _, c := range parts[1:] {
		if c.overlap(from, to) > best.overlap(from, to) {
			best = c
		}
	}
	if !focus.IsZero() && len(parts) > 1 {
		for _, c := range parts {
			if c.holds(focus) {
				best = c
				break
			}
		}
	}
	best.truncated = len(parts) > 1
	return best.write(ctx, from, to, out)
}

// ClipFile writes a clip to path atomically: a temp file in the same
// directory, fsync, rename, directory fsync.
func (r *Recorder) ClipFile(ctx context.Context, from, to time.Time, path string) (ClipInfo, error) {
	return r.ClipFileAround(ctx, from, to, time.Time{}, path)
}

// ClipFileAround is ClipFile keeping the part that holds focus (see
// ClipAround).
func (r *Recorder) ClipFileAround(ctx context.Context, from, to, focus time.Time, path string) (ClipInfo, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".clip-*.tmp")
	if err != nil {
		return ClipInfo{}, fmt.Errorf("record: clip temp file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	bw := bufio.NewWriterSize(tmp, 256<<10)
	info, err := r.ClipAround(ctx, from, to, focus, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return ClipInfo{}, fmt.Errorf("record: write clip %s: %w", path, err)
	}
	return info, nil
}

// clipSample is one sample located in a segment file, on the wall clock.
type clipSample struct {
	file      *os.File
	offset    int64
	size      uint32
	at        time.Time // DTS (video) or PTS (audio)
	ptsOffset int32     // video only, 90 kHz ticks
	duration  time.Duration
	sync      bool
}

func (s *clipSample) pts() time.Time {
	return s.at.Add(scaleToDuration(uint64(max(s.ptsOffset, 0)), videoTimescale))
}

type clipBuilder struct {
	files     []*os.File
	video     *fmp4.InitTrack
	audio     *fmp4.InitTrack
	vs, as    []clipSample
	truncated bool
}

func (c *clipBuilder) close() {
	for _, f := range c.files {
		f.Close()
	}
}

// overlap is how much of [from, to] the builder's video covers.
func (c *clipBuilder) overlap(from, to time.Time) time.Duration {
	if len(c.vs) == 0 {
		return 0
	}
	last := c.vs[len(c.vs)-1]
	start, end := c.vs[0].at, last.at.Add(last.duration)
	if start.Before(from) {
		start = from
	}
	if end.After(to) {
		end = to
	}
	return max(0, end.Sub(start))
}

// holds reports whether the builder's video spans t.
func (c *clipBuilder) holds(t time.Time) bool {
	if len(c.vs) == 0 {
		return false
	}
	last := c.vs[len(c.vs)-1]
	return !t.Before(c.vs[0].at) && !t.After(last.at.Add(last.duration))
}

// addSegment indexes one segment; same is false (and nothing is added)
// when its codec parameters differ from the clip's so far.
func (c *clipBuilder) addSegment(path string, s segment) (same bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil // deleted by the quota despite the hold
	}
	if err != nil {
		return false, fmt.Errorf("record: open segment: %w", err)
	}
	c.files = append(c.files, f)
	idx, err := scanSegment(f, s.size)
	if err != nil {
		return false, fmt.Errorf("record: segment %s: %w", s.name, err)
	}
	if idx.video == nil {
		return true, nil
	}
	if c.video == nil {
		c.video, c.audio = idx.video, idx.audio
	} else if !sameCodec(c.video, idx.video) || !sameCodec(c.audio, idx.audio) {
		return false, nil
	}
	for _, frag := range idx.fragments {
		for _, run := range frag.runs {
			var list *[]clipSample
			var tr *fmp4.InitTrack
			switch {
			case run.trackID == uint32(idx.video.ID):
				list, tr = &c.vs, idx.video
			case idx.audio != nil && run.trackID == uint32(idx.audio.ID):
				list, tr = &c.as, idx.audio
			default:
				continue
			}
			t := run.baseTime
			for _, sm := range run.samples {
				*list = append(*list, clipSample{
					file:      f,
					offset:    sm.offset,
					size:      sm.size,
					at:        s.start.Add(scaleToDuration(t, tr.TimeScale)),
					ptsOffset: sm.ptsOffset,
					duration:  scaleToDuration(uint64(sm.duration), tr.TimeScale),
					sync:      !sm.nonSync,
				})
				t += uint64(sm.duration)
			}
		}
	}
	return true, nil
}

func sameCodec(a, b *fmp4.InitTrack) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch ca := a.Codec.(type) {
	case *codecs.H264:
		cb, ok := b.Codec.(*codecs.H264)
		return ok && bytes.Equal(ca.SPS, cb.SPS) && bytes.Equal(ca.PPS, cb.PPS)
	case *codecs.MPEG4Audio:
		cb, ok := b.Codec.(*codecs.MPEG4Audio)
		return ok && ca.Config == cb.Config && a.TimeScale == b.TimeScale
	}
	return false
}

func (c *clipBuilder) write(ctx context.Context, from, to time.Time, out io.Writer) (ClipInfo, error) {
	// Start at the last keyframe shown at or before from; if the recording
	// begins later, at its first keyframe. Sample times carry rounding of
	// the 90 kHz clock and the millisecond file names, hence the slack.
	const slack = time.Millisecond
	first := -1
	for i := range c.vs {
		if !c.vs[i].sync {
			continue
		}
		late := c.vs[i].pts().After(from.Add(slack))
		if !late || first < 0 {
			first = i
		}
		if late {
			break
		}
	}
	if first < 0 || !c.vs[first].pts().Before(to) {
		return ClipInfo{}, ErrNoMedia
	}
	last := first
	for last+1 < len(c.vs) && c.vs[last+1].pts().Before(to) {
		last++
	}
	vs := c.vs[first : last+1]
	zero := vs[0].pts()

	var as []clipSample
	for _, a := range c.as {
		if !a.at.Before(zero) && a.at.Before(to) {
			as = append(as, a)
		}
	}

	ctxErr := func() error { return ctx.Err() }
	pres := pmp4.Presentation{}
	vt := &pmp4.Track{
		ID:         videoTrackID,
		TimeScale:  videoTimescale,
		TimeOffset: -vs[0].ptsOffset,
		Codec:      c.video.Codec,
		Samples:    toPMP4(vs, videoTimescale, ctxErr),
	}
	pres.Tracks = append(pres.Tracks, vt)
	if len(as) > 0 {
		pres.Tracks = append(pres.Tracks, &pmp4.Track{
			ID:         audioTrackID,
			TimeScale:  c.audio.TimeScale,
			TimeOffset: int32(toScale(as[0].at.Sub(zero), c.audio.TimeScale)),
			Codec:      c.audio.Codec,
			Samples:    toPMP4(as, c.audio.TimeScale, ctxErr),
		})
	}
	cw := &countingWriter{w: out}
	if err := pres.Marshal(cw); err != nil {
		return ClipInfo{}, fmt.Errorf("record: write clip: %w", err)
	}
	used := map[*os.File]bool{}
	for _, list := range [][]clipSample{vs, as} {
		for _, s := range list {
			used[s.file] = true
		}
	}
	lastV := vs[len(vs)-1]
	return ClipInfo{
		Start:       zero,
		End:         lastV.pts().Add(lastV.duration),
		VideoFrames: len(vs),
		AudioFrames: len(as),
		Segments:    len(used),
		Bytes:       cw.n,
		Truncated:   c.truncated,
	}, nil
}

// toPMP4 turns located samples into progressive-MP4 samples whose durations
// come from the distance to the next sample, so gaps between segments (a
// restart) stay gaps instead of shifting everything after them.
func toPMP4(src []clipSample, scale uint32, ctxErr func() error) []*pmp4.Sample {
	out := make([]*pmp4.Sample, len(src))
	t0 := src[0].at
	for i := range src {
		s := &src[i]
		var d int64
		if i+1 < len(src) {
			d = toScale(src[i+1].at.Sub(t0), scale) - toScale(s.at.Sub(t0), scale)
		} else {
			d = toScale(s.duration, scale)
		}
		out[i] = &pmp4.Sample{
			Duration:        uint32(max(d, 1)),
			PTSOffset:       s.ptsOffset,
			IsNonSyncSample: !s.sync,
			PayloadSize:     s.size,
			GetPayload: func() ([]byte, error) {
				if err := ctxErr(); err != nil {
					return nil, err
				}
				buf := make([]byte, s.size)
				if _, err := s.file.ReadAt(buf, s.offset); err != nil {
					return nil, fmt.Errorf("read sample: %w", err)
				}
				return buf, nil
			},
		}
	}
	return out
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
