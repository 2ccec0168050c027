// Package record keeps everything the box sends on air in a ring of
// fragmented MP4 files on local disk, so nothing is lost when the network is
// down and a flagged moment can later be cut out as a standalone clip.
//
// Each segment file is a complete fMP4 (ftyp+moov, then moof+mdat
// fragments of 1–2 s) named by its wall-clock start. Every fragment is one
// append followed by fdatasync, so a power cut loses at most the fragment
// being written; New runs a recovery pass that truncates each file at its
// last complete fragment. The ring is bounded by a byte quota: the oldest
// closed segments go first, unless a Hold protects them.
//
// The card itself bounds it too. A quota larger than the card's free space
// is reduced at start, and whenever the card runs full anyway (ENOSPC,
// EDQUOT, or less free than Config.ReserveBytes) the oldest closed
// recordings are deleted and the write retried: recording goes on, and the
// flagged moments kept beside the ring can always be written, since
// recordings go first. Stats says so and measures any gap.
//
// The Recorder is a stream.Sink: its methods only enqueue; Run does all the
// IO in its own goroutine and never lets a failing disk stall the stream.
package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/stream"
)

// Config sets up a Recorder. Dir and QuotaBytes are required.
type Config struct {
	// Dir holds the segment files; it is created if missing. Files in it
	// that the recorder did not name are left alone and not counted.
	Dir string
	// QuotaBytes bounds the segment files' total size on disk. New reduces
	// it, and logs so, when the filesystem has less room (free space plus
	// the ring's own files, less ReserveBytes).
	QuotaBytes int64
	// ReserveBytes is free space left on the filesystem for what must
	// never be lost (the flagged moments written beside the ring): below
	// it, the oldest closed recordings are deleted. With none left to
	// delete, the open segment may use the reserve down to a quarter of
	// it before it is closed. Default 16 MiB, at most a quarter of the
	// filesystem; negative means none.
	ReserveBytes int64
	// SegmentDuration is the target length of one file (default 60 s); a
	// segment closes at the first keyframe after it.
	SegmentDuration time.Duration
	// FragmentDuration is the target fragment length (default 1 s): a
	// fragment ends at the first keyframe after it, or unconditionally at
	// MaxFragmentDuration (default 2 s) when keyframes are rarer.
	FragmentDuration    time.Duration
	MaxFragmentDuration time.Duration
	// QueueUnits is how many units may wait for the writer (default 1024,
	// about 13 s of 30 fps video with 48 kHz AAC) before new ones are dropped.
	QueueUnits int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the wall clock (default time.Now); tests replace it.
	Now func() time.Time
	// Epoch is the pipeline clock's zero, when the caller knows it (the
	// pipeline does: every unit's timestamp and every caption's is on it).
	// Set, it is every session's wall clock. Zero means it is estimated
	// from the first unit's arrival, which is late by however long the
	// encoder took to deliver that unit: seconds on a loaded box, and
	// every flagged moment's time and clip with it.
	Epoch time.Time
}

func (c *Config) setDefaults() error {
	if c.Dir == "" {
		return errors.New("record: Config.Dir is empty")
	}
	if c.QuotaBytes <= 0 {
		return errors.New("record: Config.QuotaBytes must be positive")
	}
	if c.SegmentDuration <= 0 {
		c.SegmentDuration = time.Minute
	}
	if c.FragmentDuration <= 0 {
		c.FragmentDuration = time.Second
	}
	if c.MaxFragmentDuration <= 0 {
		c.MaxFragmentDuration = 2 * time.Second
	}
	if c.MaxFragmentDuration < c.FragmentDuration {
		c.MaxFragmentDuration = c.FragmentDuration
	}
	if c.QueueUnits <= 0 {
		c.QueueUnits = 1024
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Stats is a snapshot of the recorder's health.
type Stats struct {
	BytesOnDisk      int64
	Segments         int
	FragmentsWritten uint64
	// UnitsDropped counts units lost to a full queue, a missing keyframe
	// after a gap, bad timestamps or a failed write.
	UnitsDropped uint64
	// FragmentsDropped counts fragments not written (quota or IO error).
	FragmentsDropped uint64
	WriteErrors      uint64
	SegmentsDeleted  uint64
	// HoldsOverridden counts held segments deleted because nothing else
	// could make room for the live recording.
	HoldsOverridden uint64
	// QuotaBytes is the quota in force (Config.QuotaBytes, or less when
	// the card had no room for it at start).
	QuotaBytes int64
	// DiskFull counts the times the card itself was full (ENOSPC, EDQUOT,
	// or less free than the reserve) and old recordings were deleted for
	// it, SegmentsEvicted those deleted, LastDiskFull the latest time.
	DiskFull        uint64
	SegmentsEvicted uint64
	LastDiskFull    time.Time
	// Gaps counts holes in the recording of a session (fragments lost to
	// a full or failing card, units the writer fell behind on); LastGap
	// and GapTotal are the media missing, from the end of what was
	// written before to the start of what was written after.
	Gaps     uint64
	LastGap  time.Duration
	GapTotal time.Duration
	// LastFsync is the latency of the latest fragment's write + fdatasync.
	LastFsync time.Duration
	// LastError is the latest write failure ("" if none) and when.
	LastError   string
	LastErrorAt time.Time
	// Healthy is false while the latest fragment could not be written.
	Healthy bool
}

// segment is one file of the ring as the index sees it.
type segment struct {
	name  string
	seq   uint64
	start time.Time     // wall clock of its first sample
	dur   time.Duration // media written so far
	size  int64         // bytes committed (fsynced); the open one grows
	open  bool
}

func (s *segment) end() time.Time { return s.start.Add(s.dur) }

// session is one SetTracks epoch of the encoder.
type session struct {
	tracks stream.Tracks
	// epochNanos is the wall clock (Unix ns) of pipeline time zero, fixed
	// when the first unit of the session arrives; 0 until then.
	epochNanos atomic.Int64
	// prevEpoch is the session before's epoch: the pipeline keeps one clock
	// across picture-size changes, so it is kept unless the first unit
	// says the clock restarted.
	prevEpoch int64
}

// maxEpochShift is how far a new session's first unit may arrive from
// where the previous session's clock puts it and still be on that clock.
// Re-estimating the epoch from arrival time at every size change shifted
// the wall clock by however late the first unit came (a new encoder's
// start-up, a backlog): clips and the bench saw holes of 0.6-0.7 s.
const maxEpochShift = 3 * time.Second

type item struct {
	sess  *session
	video *stream.VideoUnit
	audio *stream.AudioUnit
	// gap is set on the first video unit enqueued after dropped ones.
	gap bool
	// done, when set, marks a barrier: the writer closes it once every
	// earlier item is handled.
	done chan struct{}
}

// HoldID names a Hold for Release.
type HoldID uint64

type hold struct{ from, to time.Time }

// Recorder records the stream into a ring of fMP4 files. Create it with
// New, start Run, and hand it to the encoder as a stream.Sink.
type Recorder struct {
	cfg   Config
	log   *slog.Logger
	queue chan item

	sess     atomic.Pointer[session]
	videoGap atomic.Bool

	running atomic.Bool

	// quota and reserve are the bounds in force (see Config);
	// reserveFiles is the files left for others likewise, on a card that
	// can run out of inodes before bytes.
	quota, reserve, reserveFiles int64

	mu       sync.Mutex
	segs     []*segment // ascending seq
	nextSeq  uint64
	holds    map[HoldID]hold
	nextHold HoldID
	stats    Stats
	// lastErrorLog is when a write error was last logged.
	lastErrorLog time.Time

	unitsDropped atomic.Uint64
}

// New opens (or creates) the ring directory and runs crash recovery: every
// segment is truncated at its last complete fragment and files holding no
// media are deleted. Then it enforces the quota.
func New(cfg Config) (*Recorder, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("record: create dir: %w", err)
	}
	r := &Recorder{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "record"),
		queue: make(chan item, cfg.QueueUnits),
		holds: map[HoldID]hold{},
	}
	r.stats.Healthy = true
	if err := r.recover(); err != nil {
		return nil, err
	}
	r.fitCard()
	r.mu.Lock()
	r.makeRoomLocked(0)
	r.mu.Unlock()
	return r, nil
}

// fitCard sets the reserve and reduces the quota to what the filesystem
// can hold: a 2 GiB quota on a card with 300 MB free would only be found
// out when writes fail mid-broadcast.
func (r *Recorder) fitCard() {
	r.quota, r.reserve = r.cfg.QuotaBytes, max(r.cfg.ReserveBytes, 0)
	sp, err := diskSpace(r.cfg.Dir)
	if err != nil {
		r.log.Warn("free space unknown: the quota alone bounds the recording", "err", err)
		return
	}
	if r.cfg.ReserveBytes == 0 {
		r.reserve = min(defaultReserve, sp.total/4)
	}
	if r.cfg.ReserveBytes >= 0 {
		r.reserveFiles = min(defaultReserveFiles, sp.files/4)
	}
	free := sp.free
	room := free + r.bytesLocked() - r.reserve
	if room < r.quota {
		r.quota = max(room, minQuota)
		r.log.Warn("recording quota larger than the card's free space: reduced",
			"quota_bytes", r.cfg.QuotaBytes, "reduced_to", r.quota, "free_bytes", free, "reserve_bytes", r.reserve)
	}
}

// space is the room on a filesystem (diskSpace).
type space struct{ free, total, freeFiles, files int64 }

const (
	defaultReserve = 16 << 20
	// defaultReserveFiles is enough for many flagged moments (a directory
	// and three files each).
	defaultReserveFiles = 256
	// minQuota keeps a quota usable on a card that was full at start: the
	// reserve-driven eviction and the errors in Stats take it from there.
	minQuota = 1 << 20
)

// recover indexes the segment files left in Dir and repairs torn tails.
func (r *Recorder) recover() error {
	entries, err := os.ReadDir(r.cfg.Dir)
	if err != nil {
		return fmt.Errorf("record: read dir: %w", err)
	}
	changed := false
	for _, e := range entries {
		start, seq, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		r.nextSeq = max(r.nextSeq, seq+1)
		path := filepath.Join(r.cfg.Dir, e.Name())
		seg, fixed, err := recoverFile(path)
		changed = changed || fixed
		if err != nil {
			r.log.Warn("segment unreadable, skipped", "file", e.Name(), "err", err)
			continue
		}
		if seg == nil {
			r.log.Info("removed segment without media", "file", e.Name())
			continue
		}
		seg.name, seg.seq, seg.start = e.Name(), seq, start
		r.segs = append(r.segs, seg)
	}
	slices.SortFunc(r.segs, func(a, b *segment) int { return cmpUint(a.seq, b.seq) })
	if changed {
		if err := syncDir(r.cfg.Dir); err != nil {
			r.log.Warn("dir sync after recovery", "err", err)
		}
	}
	return nil
}

// recoverFile truncates one file at its last complete fragment. It returns
// nil (and removes the file) when nothing playable is left.
func recoverFile(path string) (seg *segment, changed bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	idx, err := scanSegment(f, fi.Size())
	if errors.Is(err, errNoInit) || err == nil && len(idx.fragments) == 0 {
		f.Close()
		return nil, true, os.Remove(path)
	}
	if err != nil {
		return nil, false, err
	}
	if idx.validEnd < fi.Size() {
		if err := f.Truncate(idx.validEnd); err != nil {
			return nil, false, fmt.Errorf("truncate torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, false, fmt.Errorf("sync after truncate: %w", err)
		}
		changed = true
	}
	return &segment{dur: idx.duration(), size: idx.validEnd}, changed, nil
}

// Run writes queued units to disk until ctx is done, then writes what is
// still queued, closes the open segment and returns. Disk errors never end
// Run: they are counted in Stats and the recorder keeps trying.
func (r *Recorder) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("record: Run already running")
	}
	defer r.running.Store(false)
	w := newWriter(r)
	defer w.closeSegment()
	for {
		select {
		case it := <-r.queue:
			w.handle(it)
		case <-ctx.Done():
			for {
				select {
				case it := <-r.queue:
					w.handle(it)
				default:
					return nil
				}
			}
		}
	}
}

// SetTracks starts a new session: the open segment is closed and the next
// one is written with the new codec parameters. It never blocks.
func (r *Recorder) SetTracks(t stream.Tracks) {
	s := &session{tracks: t}
	if old := r.sess.Load(); old != nil {
		s.prevEpoch = old.epochNanos.Load()
	}
	r.sess.Store(s)
}

// WriteVideo enqueues one access unit; it never blocks. Units are kept
// (read-only) until written.
func (r *Recorder) WriteVideo(u *stream.VideoUnit) {
	if u == nil {
		return
	}
	s := r.currentSession(u.DTS)
	if s == nil {
		r.unitsDropped.Add(1)
		return
	}
	select {
	case r.queue <- item{sess: s, video: u, gap: r.videoGap.Swap(false)}:
	default:
		r.videoGap.Store(true)
		r.unitsDropped.Add(1)
	}
}

// WriteAudio enqueues one AAC unit; it never blocks.
func (r *Recorder) WriteAudio(u *stream.AudioUnit) {
	if u == nil {
		return
	}
	s := r.currentSession(u.PTS)
	if s == nil {
		r.unitsDropped.Add(1)
		return
	}
	select {
	case r.queue <- item{sess: s, audio: u}:
	default:
		r.unitsDropped.Add(1)
	}
}

// currentSession fixes the session's wall-clock epoch on its first unit:
// Config.Epoch when known, else estimated at arrival time.
func (r *Recorder) currentSession(pts time.Duration) *session {
	s := r.sess.Load()
	if s == nil {
		return nil
	}
	if s.epochNanos.Load() == 0 {
		if !r.cfg.Epoch.IsZero() {
			s.epochNanos.CompareAndSwap(0, r.cfg.Epoch.UnixNano())
			return s
		}
		epoch := r.cfg.Now().Add(-pts).UnixNano()
		if s.prevEpoch != 0 && time.Duration(epoch-s.prevEpoch).Abs() <= maxEpochShift {
			epoch = s.prevEpoch
		}
		s.epochNanos.CompareAndSwap(0, epoch)
	}
	return s
}

// barrier waits until the writer has handled everything enqueued before
// it (tests use it to sequence disk events against the stream).
func (r *Recorder) barrier(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case r.queue <- item{done: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WallTime maps a time on the current session's pipeline clock (for
// example a caption's timestamp) to the wall clock used by Clip and Hold.
// ok is false before the session's first unit.
func (r *Recorder) WallTime(pts time.Duration) (t time.Time, ok bool) {
	s := r.sess.Load()
	if s == nil || s.epochNanos.Load() == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, s.epochNanos.Load()).Add(pts), true
}

// Stats returns a snapshot of the recorder's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.UnitsDropped += r.unitsDropped.Load()
	st.Segments = len(r.segs)
	st.BytesOnDisk = r.bytesLocked()
	st.QuotaBytes = r.quota
	return st
}

// Hold protects the segments overlapping [from, to] from quota deletion
// until Release, for example while a flagged moment waits to be clipped.
// Holds live in memory only. Should held segments be all that is left to
// delete, the live recording wins and Stats.HoldsOverridden counts it.
func (r *Recorder) Hold(from, to time.Time) HoldID {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextHold++
	r.holds[r.nextHold] = hold{from: from, to: to}
	return r.nextHold
}

// Release ends a Hold. Releasing twice is harmless.
func (r *Recorder) Release(id HoldID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.holds, id)
}

func (r *Recorder) bytesLocked() int64 {
	var n int64
	for _, s := range r.segs {
		n += s.size
	}
	return n
}

func (r *Recorder) heldLocked(s *segment) bool {
	for _, h := range r.holds {
		if !s.start.After(h.to) && !s.end().Before(h.from) {
			return true
		}
	}
	return false
}

// MakeRoom deletes the oldest closed recordings until the card has need
// bytes free beyond the recorder's reserve (at least one, since the caller
// was just refused by the card). Flagged moments come before recordings:
// the flagged store calls it when the card is full. It reports whether
// the room is there.
func (r *Recorder) MakeRoom(need int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.makeDiskRoomLocked(need, 4, true)
}

// makeRoomLocked deletes the oldest closed segments until need more bytes
// fit in the quota, sparing held ones while it can. It reports whether they
// fit.
func (r *Recorder) makeRoomLocked(need int64) bool {
	total := r.bytesLocked()
	return r.evictLocked(func(freed, _ int64) bool { return total-freed+need <= r.quota }, false)
}

// makeDiskRoomLocked deletes the oldest closed segments until the card has
// need bytes (and newFiles files) free beyond the reserve. force, after
// the card refused a write, deletes at least one: free space does not show
// a user's disk quota. It reports whether the room is there (true when
// free space cannot be measured: the write will tell).
func (r *Recorder) makeDiskRoomLocked(need, newFiles int64, force bool) bool {
	if r.cfg.ReserveBytes < 0 && !force {
		return true
	}
	sp, err := diskSpace(r.cfg.Dir)
	if err != nil {
		return !force
	}
	fits := func(freed, files int64) bool {
		return sp.free+freed >= need+r.reserve && (sp.files == 0 || sp.freeFiles+files >= newFiles+r.reserveFiles)
	}
	if !force && fits(0, 0) {
		return true
	}
	now := r.cfg.Now()
	quiet := now.Sub(r.stats.LastDiskFull) < errorLogEvery
	r.stats.DiskFull++
	r.stats.LastDiskFull = now
	ok := r.evictLocked(func(freed, files int64) bool {
		return (!force || files > 0) && fits(freed, files)
	}, true)
	if !ok {
		// Nothing closed is left to delete. The open segment may still
		// take most of the reserve (flagged moments are small) rather
		// than stop the recording: down to a quarter of it, then it is
		// closed and the next one deletes it.
		if sp, err = diskSpace(r.cfg.Dir); err == nil {
			ok = sp.free >= need+r.reserve/4 && (sp.files == 0 || sp.freeFiles >= newFiles+r.reserveFiles/4)
		}
	}
	if !quiet {
		r.log.Warn("card full: deleting old recordings", "free_bytes", sp.free, "free_files", sp.freeFiles,
			"need_bytes", need, "reserve_bytes", r.reserve, "room", ok, "evicted_so_far", r.stats.SegmentsEvicted)
	}
	return ok
}

// evictLocked deletes the oldest closed segments, held ones only when
// nothing else is left, until enough(bytes, files freed) holds. It
// reports whether it does.
func (r *Recorder) evictLocked(enough func(freed, files int64) bool, card bool) bool {
	var freed, files int64
	deleted := false
	defer func() {
		if deleted {
			if err := syncDir(r.cfg.Dir); err != nil {
				r.log.Warn("dir sync after delete", "err", err)
			}
		}
	}()
	for !enough(freed, files) {
		victim := -1
		for i, s := range r.segs {
			if !s.open && !r.heldLocked(s) {
				victim = i
				break
			}
		}
		if victim < 0 {
			for i, s := range r.segs {
				if !s.open {
					victim = i
					r.stats.HoldsOverridden++
					r.log.Warn("no room left but in a held segment: deleting it", "file", s.name)
					break
				}
			}
		}
		if victim < 0 {
			return false
		}
		s := r.segs[victim]
		if err := os.Remove(filepath.Join(r.cfg.Dir, s.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.noteErrorLocked(fmt.Errorf("delete old segment: %w", err))
			return false
		}
		r.segs = slices.Delete(r.segs, victim, victim+1)
		r.stats.SegmentsDeleted++
		if card {
			r.stats.SegmentsEvicted++
		}
		freed += s.size
		files++
		deleted = true
	}
	return true
}

// errorLogEvery limits how often a persisting failure (a full or dead
// disk fails every fragment) is repeated in the journal.
const errorLogEvery = 30 * time.Second

func (r *Recorder) noteErrorLocked(err error) {
	msg, now := err.Error(), r.cfg.Now()
	if msg != r.stats.LastError || now.Sub(r.lastErrorLog) >= errorLogEvery {
		r.log.Error("recorder write failed", "err", err, "errors_so_far", r.stats.WriteErrors)
		r.lastErrorLog = now
	}
	r.stats.WriteErrors++
	r.stats.LastError = msg
	r.stats.LastErrorAt = now
	r.stats.Healthy = false
}

func (r *Recorder) noteError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteErrorLocked(err)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var _ stream.Sink = (*Recorder)(nil)
