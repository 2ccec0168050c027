package record

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/cunbo/cunbo/stream"
)

const (
	videoTrackID   = 1
	audioTrackID   = 2
	videoTimescale = 90000
	aacFrameLen    = 1024 // samples per AAC-LC access unit
)

// pendingVideo is the newest video unit: its duration is only known when
// the next one arrives, so it waits here.
type pendingVideo struct {
	dts    time.Duration
	sample *fmp4.Sample
}

type pendingAudio struct {
	pts  time.Duration
	data []byte
}

// openSegment is the file being written.
type openSegment struct {
	seg      *segment
	file     *os.File
	base     time.Duration // pipeline time at the file's media time zero
	fragSeq  uint32
	hasMedia bool
}

// writer is the state of Run's goroutine; nothing else touches it.
type writer struct {
	r *Recorder

	sess       *session
	init       []byte // ftyp+moov of the session, nil while its tracks are unusable
	audioScale uint32
	frameDur   time.Duration

	cur *openSegment
	// waitKey drops video until a keyframe: at start, after a queue gap
	// and after a write error.
	waitKey bool
	// rotate closes the segment at the next keyframe so the quota can
	// reclaim it.
	rotate bool

	fragStart   time.Duration // DTS of the fragment's first video sample
	video       []*fmp4.Sample
	videoStart  time.Duration // DTS of video[0]
	audio       []*fmp4.Sample
	audioStart  time.Duration // PTS of audio[0]
	vPending    *pendingVideo
	aPending    *pendingAudio
	vEnd, aEnd  time.Duration // end of the last finalized sample, pipeline time
	buf         seekablebuffer.Buffer
	partTracks  [2]fmp4.PartTrack
	partTrackPs []*fmp4.PartTrack

	// writtenEnd is the wall-clock end of the session's last fragment on
	// disk (zero before the first): the next one starting later than
	// gapSlack after it leaves a gap in the recording.
	writtenEnd time.Time
}

// gapSlack is the hole between two fragments still counted as none:
// fragment ends are rounded to the timescale and audio may trail video.
const gapSlack = 500 * time.Millisecond

func newWriter(r *Recorder) *writer { return &writer{r: r, waitKey: true} }

func (w *writer) drop() { w.r.unitsDropped.Add(1) }

func (w *writer) handle(it item) {
	if it.done != nil {
		close(it.done)
		return
	}
	if it.sess != w.sess {
		w.startSession(it.sess)
	}
	if w.init == nil {
		w.drop()
		return
	}
	switch {
	case it.video != nil:
		w.handleVideo(it.video, it.gap)
	case it.audio != nil:
		w.handleAudio(it.audio)
	}
}

func (w *writer) startSession(s *session) {
	w.closeSegment()
	w.sess, w.init = s, nil
	w.writtenEnd = time.Time{}
	init, audioScale, err := buildInit(s.tracks)
	if err != nil {
		w.r.noteError(fmt.Errorf("unusable tracks: %w", err))
		return
	}
	w.init, w.audioScale = init, audioScale
	w.frameDur = time.Second / 30
	if s.tracks.FPS > 0 {
		w.frameDur = time.Second / time.Duration(s.tracks.FPS)
	}
	w.waitKey = true
}

func (w *writer) handleVideo(u *stream.VideoUnit, gap bool) {
	if gap {
		w.waitKey = true
	}
	if w.waitKey && !u.Key {
		w.drop()
		return
	}
	if w.vPending != nil && u.DTS <= w.vPending.dts {
		w.drop() // timestamps must rise within a session
		return
	}
	avcc, err := h264.AVCC(u.NALUs).Marshal()
	if err != nil {
		w.drop()
		return
	}
	sample := &fmp4.Sample{
		PTSOffset:       int32(toScale(u.PTS-u.DTS, videoTimescale)),
		IsNonSyncSample: !u.Key,
		Payload:         avcc,
	}
	resync := w.waitKey
	w.waitKey = false

	if w.cur == nil {
		if !w.openSegment(u.DTS) {
			w.waitKey = true
			w.drop()
			return
		}
	} else {
		segDur := u.DTS - w.cur.base
		fragDur := u.DTS - w.fragStart
		switch {
		case u.Key && (segDur >= w.r.cfg.SegmentDuration || w.rotate):
			w.finalizeVideo(u.DTS)
			w.finalizeAudioBefore(u.DTS)
			w.flushFragment()
			w.closeFile()
			if !w.openSegment(u.DTS) {
				w.waitKey = true
				w.drop()
				return
			}
		case u.Key && (fragDur >= w.r.cfg.FragmentDuration || resync) || fragDur >= w.r.cfg.MaxFragmentDuration:
			w.finalizeVideo(u.DTS)
			w.flushFragment()
			w.fragStart = u.DTS
		default:
			w.finalizeVideo(u.DTS)
		}
	}
	if w.cur == nil { // a write error closed the segment
		w.waitKey = true
		w.drop()
		return
	}
	w.vPending = &pendingVideo{dts: u.DTS, sample: sample}
}

func (w *writer) handleAudio(u *stream.AudioUnit) {
	if w.cur == nil || w.audioScale == 0 || u.PTS < w.cur.base {
		return // before the first keyframe of a segment: nothing to play it with
	}
	if w.aPending != nil {
		if u.PTS <= w.aPending.pts {
			w.drop()
			return
		}
		w.finalizeAudio(u.PTS)
	}
	w.aPending = &pendingAudio{pts: u.PTS, data: u.Data}
	// Without video (a stalled camera) nothing would cut fragments;
	// bound the audio held in memory.
	if len(w.audio) > 0 && u.PTS-w.audioStart >= 2*w.r.cfg.MaxFragmentDuration {
		w.flushFragment()
	}
}

// finalizeVideo gives the pending video unit its duration up to next.
func (w *writer) finalizeVideo(next time.Duration) {
	p := w.vPending
	if p == nil {
		return
	}
	base := w.cur.base
	p.sample.Duration = uint32(toScale(next-base, videoTimescale) - toScale(p.dts-base, videoTimescale))
	if len(w.video) == 0 {
		w.videoStart = p.dts
	}
	w.video = append(w.video, p.sample)
	w.vPending = nil
	w.vEnd = next
}

func (w *writer) finalizeAudio(next time.Duration) {
	p := w.aPending
	base := w.cur.base
	d := toScale(next-base, w.audioScale) - toScale(p.pts-base, w.audioScale)
	if len(w.audio) == 0 {
		w.audioStart = p.pts
	}
	w.audio = append(w.audio, &fmp4.Sample{Duration: uint32(d), Payload: p.data})
	w.aPending = nil
	w.aEnd = next
}

// finalizeAudioBefore ends the pending audio unit with its nominal length
// when it starts before t, so it stays in the segment that t closes.
func (w *writer) finalizeAudioBefore(t time.Duration) {
	if w.aPending != nil && w.aPending.pts < t {
		w.finalizeAudio(w.aPending.pts + w.nominalAudio())
	}
}

func (w *writer) nominalAudio() time.Duration {
	return time.Duration(aacFrameLen) * time.Second / time.Duration(max(w.audioScale, 1))
}

// flushFragment writes the finalized samples as one moof+mdat.
func (w *writer) flushFragment() {
	if w.cur == nil || len(w.video) == 0 && len(w.audio) == 0 {
		return
	}
	base := w.cur.base
	tracks := w.partTrackPs[:0]
	var end time.Duration
	start := time.Duration(1<<63 - 1)
	if len(w.video) > 0 {
		start = w.videoStart
		w.partTracks[0] = fmp4.PartTrack{
			ID:       videoTrackID,
			BaseTime: uint64(max(0, toScale(w.videoStart-base, videoTimescale))),
			Samples:  w.video,
		}
		tracks = append(tracks, &w.partTracks[0])
		end = max(end, w.vEnd)
	}
	if len(w.audio) > 0 {
		w.partTracks[1] = fmp4.PartTrack{
			ID:       audioTrackID,
			BaseTime: uint64(max(0, toScale(w.audioStart-base, w.audioScale))),
			Samples:  w.audio,
		}
		tracks = append(tracks, &w.partTracks[1])
		end = max(end, w.aEnd)
		start = min(start, w.audioStart)
	}
	w.partTrackPs = tracks
	part := fmp4.Part{SequenceNumber: w.cur.fragSeq + 1, Tracks: tracks}
	w.buf.Reset()
	err := part.Marshal(&w.buf)
	units := len(w.video) + len(w.audio)
	clear(w.video)
	clear(w.audio)
	w.video, w.audio = w.video[:0], w.audio[:0]
	if err != nil {
		w.r.unitsDropped.Add(uint64(units))
		w.r.noteError(fmt.Errorf("marshal fragment: %w", err))
		return
	}
	w.writeFragment(w.buf.Bytes(), start, end, units)
}

// writeFragment appends one fragment (media from start to end, pipeline
// time) with a single write and makes it durable before counting it. A
// full card gets old recordings deleted and the write retried once.
func (w *writer) writeFragment(data []byte, start, end time.Duration, units int) {
	r := w.r
	need := int64(len(data))
	r.mu.Lock()
	fits := r.makeRoomLocked(need)
	if !fits {
		r.stats.FragmentsDropped++
		r.noteErrorLocked(fmt.Errorf("quota %d bytes too small for the open segment", r.quota))
	} else if fits = r.makeDiskRoomLocked(need, 0, false); !fits {
		r.stats.FragmentsDropped++
		r.noteErrorLocked(errors.New("card full: no old recording left to delete but the open one"))
	}
	r.mu.Unlock()
	if !fits {
		r.unitsDropped.Add(uint64(units))
		w.rotate = true
		return
	}

	t0 := time.Now()
	err := w.appendSynced(data)
	if err != nil && diskFull(err) {
		r.mu.Lock()
		room := r.makeDiskRoomLocked(need, 0, true)
		r.mu.Unlock()
		if room {
			err = w.appendSynced(data)
		}
	}
	latency := time.Since(t0)
	if err != nil {
		r.unitsDropped.Add(uint64(units))
		r.mu.Lock()
		r.stats.FragmentsDropped++
		r.noteErrorLocked(fmt.Errorf("write fragment to %s: %w", w.cur.seg.name, err))
		r.mu.Unlock()
		// Start a fresh file at the next keyframe: an append after a
		// short write would land behind garbage. A full card can then
		// delete this one too.
		w.abandonSegment()
		return
	}
	w.cur.fragSeq++
	w.cur.hasMedia = true
	epoch := time.Unix(0, w.sess.epochNanos.Load())
	r.mu.Lock()
	w.cur.seg.size += need
	w.cur.seg.dur = max(w.cur.seg.dur, end-w.cur.base)
	r.stats.FragmentsWritten++
	r.stats.LastFsync = latency
	r.stats.Healthy = true
	if !w.writtenEnd.IsZero() {
		if gap := epoch.Add(start).Sub(w.writtenEnd); gap > gapSlack {
			r.stats.Gaps++
			r.stats.LastGap = gap
			r.stats.GapTotal += gap
			r.log.Warn("recording has a gap", "gap", gap, "at", w.writtenEnd)
		}
	}
	r.mu.Unlock()
	w.writtenEnd = epoch.Add(end)
}

// appendSynced appends data to the open file and fdatasyncs it; on
// failure it cuts back whatever part of data landed.
func (w *writer) appendSynced(data []byte) error {
	_, err := w.cur.file.Write(data)
	if err == nil {
		err = datasync(w.cur.file)
	}
	if err != nil {
		if terr := w.cur.file.Truncate(w.cur.seg.size); terr != nil {
			return errors.Join(err, fmt.Errorf("cut back: %w", terr))
		}
	}
	return err
}

// openSegment creates a file whose media time zero is at pipeline time t
// (rounded down to the millisecond its name carries) and writes its init.
func (w *writer) openSegment(t time.Duration) bool {
	r := w.r
	epoch := time.Unix(0, w.sess.epochNanos.Load())
	start := epoch.Add(t).Truncate(time.Millisecond)
	base := start.Sub(epoch)

	need := int64(len(w.init))
	r.mu.Lock()
	seq := r.nextSeq
	r.nextSeq++
	fits := r.makeRoomLocked(need)
	if !fits {
		r.noteErrorLocked(fmt.Errorf("quota %d bytes too small for a new segment", r.quota))
	} else if fits = r.makeDiskRoomLocked(need, 1, false); !fits {
		r.noteErrorLocked(errors.New("card full: no old recording left to delete for a new segment"))
	}
	r.mu.Unlock()
	if !fits {
		return false
	}

	name := segmentName(start, seq)
	path := filepath.Join(r.cfg.Dir, name)
	f, err := createSegment(path, w.init)
	if err != nil && diskFull(err) {
		// Out of space or of inodes: delete the oldest and try again.
		r.mu.Lock()
		room := r.makeDiskRoomLocked(need, 1, true)
		r.mu.Unlock()
		if room {
			f, err = createSegment(path, w.init)
		}
	}
	if err != nil {
		r.noteError(fmt.Errorf("create segment: %w", err))
		return false
	}
	seg := &segment{name: name, seq: seq, start: start, size: int64(len(w.init)), open: true}
	r.mu.Lock()
	r.segs = append(r.segs, seg)
	r.mu.Unlock()

	w.cur = &openSegment{seg: seg, file: f, base: base}
	w.rotate = false
	w.fragStart = t
	if w.aPending != nil && w.aPending.pts < base {
		w.aPending = nil
	}
	return true
}

// createSegment creates a segment file holding init, durable with its
// directory entry; on failure nothing is left behind.
func createSegment(path string, init []byte) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if _, err = f.Write(init); err == nil {
		if err = datasync(f); err == nil {
			err = syncDir(filepath.Dir(path))
		}
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write init: %w", err)
	}
	return f, nil
}

// closeSegment ends the open segment for good (session change, shutdown):
// the pending units get their nominal durations and are written.
func (w *writer) closeSegment() {
	if w.cur == nil {
		return
	}
	if w.vPending != nil {
		w.finalizeVideo(w.vPending.dts + w.frameDur)
	}
	if w.aPending != nil {
		w.finalizeAudio(w.aPending.pts + w.nominalAudio())
	}
	w.flushFragment()
	w.closeFile()
	w.waitKey = true
}

// closeFile makes the segment durable (file and directory entry) and
// hands it to the ring as closed.
func (w *writer) closeFile() {
	cur := w.cur
	if cur == nil {
		return
	}
	w.cur = nil
	err := cur.file.Sync()
	if cerr := cur.file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(w.r.cfg.Dir)
	}
	if err != nil {
		w.r.noteError(fmt.Errorf("close segment %s: %w", cur.seg.name, err))
	}
	w.retire(cur)
}

// abandonSegment closes a segment after a write error without writing more.
func (w *writer) abandonSegment() {
	cur := w.cur
	w.cur = nil
	cur.file.Close()
	w.vPending, w.aPending = nil, nil
	clear(w.video)
	clear(w.audio)
	w.video, w.audio = w.video[:0], w.audio[:0]
	w.waitKey = true
	w.retire(cur)
}

// retire marks a finished segment closed, or removes it if it never got
// any media.
func (w *writer) retire(cur *openSegment) {
	r := w.r
	r.mu.Lock()
	defer r.mu.Unlock()
	cur.seg.open = false
	if cur.hasMedia {
		return
	}
	os.Remove(filepath.Join(r.cfg.Dir, cur.seg.name))
	for i, s := range r.segs {
		if s == cur.seg {
			r.segs = append(r.segs[:i], r.segs[i+1:]...)
			break
		}
	}
}

// buildInit makes the ftyp+moov every segment of a session starts with.
func buildInit(t stream.Tracks) ([]byte, uint32, error) {
	if len(t.SPS) == 0 || len(t.PPS) == 0 {
		return nil, 0, errors.New("missing SPS/PPS")
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{
		ID:        videoTrackID,
		TimeScale: videoTimescale,
		Codec:     &codecs.H264{SPS: t.SPS, PPS: t.PPS},
	}}}
	var audioScale uint32
	if len(t.AudioConfig) > 0 {
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(t.AudioConfig); err != nil {
			return nil, 0, fmt.Errorf("audio config: %w", err)
		}
		if conf.SampleRate <= 0 {
			return nil, 0, errors.New("audio config: no sample rate")
		}
		audioScale = uint32(conf.SampleRate)
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{
			ID:        audioTrackID,
			TimeScale: audioScale,
			Codec:     &codecs.MPEG4Audio{Config: conf},
		})
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, 0, fmt.Errorf("marshal init: %w", err)
	}
	return buf.Bytes(), audioScale, nil
}
