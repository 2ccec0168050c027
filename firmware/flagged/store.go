package flagged

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cunbo/cunbo/firmware/atomicfile"
	"github.com/cunbo/cunbo/segment"
)

// ErrNotFound means no segment has the given id.
var ErrNotFound = errors.New("flagged: no such segment")

// Config sets up a Store.
type Config struct {
	// Dir holds one directory per segment (e.g. /var/lib/cunbo/flagged).
	Dir string
	// QuotaBytes bounds the segments' total size; 0 means no bound.
	QuotaBytes int64
	Logger     *slog.Logger
	// Now is the wall clock (default time.Now).
	Now func() time.Time
	// MakeRoom, when the card refuses a write (full), asks what shares it
	// (record.Recorder.MakeRoom) to free need bytes; the write is then
	// tried once more. Findings come before recordings. Nil: no retry.
	MakeRoom func(need int64) bool

	// hook, in tests, is called at each step of a write so a child
	// process can be killed there.
	hook func(step string)
}

// Store is the set of flagged segments on disk. It is safe for concurrent use.
type Store struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	segs  map[string]*entry
	stats Stats
}

// Stats counts what the quota took. A pending segment (not yet uploaded)
// is deleted only when the store holds nothing else it could delete; each
// one is counted, so the phone page can say something was lost.
type Stats struct {
	Segments int
	Bytes    int64
	// Pending is how many segments wait for upload; ClipsPending how many
	// still wait for their clip.
	Pending      int
	ClipsPending int
	// Evicted counts segments the quota deleted since Open;
	// PendingEvicted those of them that were never uploaded.
	Evicted        uint64
	PendingEvicted uint64
}

type entry struct {
	seg   Segment
	bytes int64
}

// tmpPrefix marks a segment still being written; Open deletes them.
const tmpPrefix = ".tmp-"

// Open opens (creating if needed) the store, removes what interrupted writes
// left behind and loads every segment. A segment whose segment.json cannot
// be read is left on disk, logged and ignored, so nothing she might need is
// deleted by a bug here.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("flagged: Config.Dir is required")
	}
	if cfg.QuotaBytes < 0 {
		return nil, fmt.Errorf("flagged: negative quota %d", cfg.QuotaBytes)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("flagged: %w", err)
	}
	s := &Store{cfg: cfg, log: log, segs: map[string]*entry{}}
	des, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("flagged: %w", err)
	}
	cleaned := false
	for _, de := range des {
		name := de.Name()
		p := filepath.Join(cfg.Dir, name)
		if strings.HasPrefix(name, tmpPrefix) {
			if err := os.RemoveAll(p); err != nil {
				return nil, fmt.Errorf("flagged: removing interrupted write: %w", err)
			}
			log.Info("flagged: removed an interrupted segment write", "dir", name)
			cleaned = true
			continue
		}
		if !de.IsDir() || !segment.ValidID(name) {
			continue
		}
		// A status or clip update interrupted by a power cut leaves
		// atomicfile's temp file next to the intact segment.json, or the
		// clip's temp file.
		for _, pat := range []string{"." + JSONFile + ".tmp-*", ".clip-*.tmp"} {
			if tmps, _ := filepath.Glob(filepath.Join(p, pat)); len(tmps) > 0 {
				for _, t := range tmps {
					os.Remove(t)
				}
				cleaned = true
			}
		}
		seg, err := readSegment(p)
		if err != nil {
			log.Warn("flagged: unreadable segment left alone", "dir", name, "err", err)
			continue
		}
		if seg.ID != name {
			log.Warn("flagged: segment id does not match its directory; left alone", "dir", name, "id", seg.ID)
			continue
		}
		s.segs[name] = &entry{seg: *seg, bytes: dirSize(p)}
	}
	if cleaned {
		if err := atomicfile.SyncDir(cfg.Dir); err != nil {
			return nil, fmt.Errorf("flagged: %w", err)
		}
	}
	s.mu.Lock()
	s.enforceQuota("")
	s.mu.Unlock()
	return s, nil
}

func readSegment(dir string) (*Segment, error) {
	data, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil {
		return nil, fmt.Errorf("flagged: %w", err)
	}
	return segment.Parse(data)
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// NewID returns a fresh segment id: the moment's UTC time (so ids sort by
// time) and random bits.
func NewID(at time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	u := at.UTC()
	return fmt.Sprintf("%sT%02d%02d%02d%03dZ-%s", u.Format("20060102"), u.Hour(), u.Minute(), u.Second(), u.Nanosecond()/1e6, hex.EncodeToString(b[:]))
}

// Dir is the directory of segment id (whether or not it exists).
func (s *Store) Dir(id string) string { return filepath.Join(s.cfg.Dir, id) }

// ClipPath is the clip of segment id.
func (s *Store) ClipPath(id string) string { return filepath.Join(s.cfg.Dir, id, ClipFile) }

// Create stores a new segment. seg's ID (made with NewID if empty), Version,
// Status and Created are filled in. writeClip, if not nil, must write the clip
// to the path it is given (for example record.Recorder.ClipFile) and return
// its description; when it fails the segment is still stored, without a clip
// and with the error noted: the transcript and findings are worth keeping.
// With writeClip nil and seg.ClipPending set, the clip comes later
// (AttachClip): the segment is on disk at once.
func (s *Store) Create(seg Segment, writeClip func(path string) (*Clip, error)) (Segment, error) {
	var out Segment
	err := s.roomFor(func() error {
		var err error
		out, err = s.create(seg, writeClip)
		return err
	})
	return out, err
}

// roomFor runs write, and once more after the card has been asked for room
// when the card was full.
func (s *Store) roomFor(write func() error) error {
	err := write()
	if isCardFull(err) && s.cfg.MakeRoom != nil {
		// A segment is a few KB without its clip; ask for a margin.
		if s.cfg.MakeRoom(1 << 20) {
			s.log.Warn("flagged: the card was full; old recordings deleted to keep this moment", "err", err)
			err = write()
		}
	}
	return err
}

func isCardFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func (s *Store) create(seg Segment, writeClip func(path string) (*Clip, error)) (Segment, error) {
	if seg.ID == "" {
		seg.ID = NewID(seg.At)
	}
	seg.Version = SchemaVersion
	seg.Status = StatusPending
	seg.Created = s.cfg.Now()
	seg.StatusAt = seg.Created
	seg.Updated = time.Time{}
	if seg.Findings == nil {
		seg.Findings = []Finding{}
	}
	if seg.Transcript.Captions == nil {
		seg.Transcript.Captions = []Caption{}
	}
	if err := seg.Validate(); err != nil {
		return Segment{}, err
	}
	tmp, err := os.MkdirTemp(s.cfg.Dir, tmpPrefix+seg.ID+"-")
	if err != nil {
		return Segment{}, fmt.Errorf("flagged: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	s.step("tmpdir")
	if writeClip != nil {
		seg.ClipPending = nil
		clip, err := writeClip(filepath.Join(tmp, ClipFile))
		switch {
		case err != nil:
			os.Remove(filepath.Join(tmp, ClipFile))
			seg.ClipError = err.Error()
			s.log.Warn("flagged: segment stored without its clip", "id", seg.ID, "err", err)
		case clip != nil:
			clip.File = ClipFile
			seg.Clip = clip
			// ClipFile implementations fsync; this makes sure.
			if err := syncFile(filepath.Join(tmp, ClipFile)); err != nil {
				return Segment{}, err
			}
		}
	}
	s.step("clip")
	data, err := json.MarshalIndent(&seg, "", "  ")
	if err != nil {
		return Segment{}, fmt.Errorf("flagged: %w", err)
	}
	if err := writeSynced(filepath.Join(tmp, JSONFile), data); err != nil {
		return Segment{}, err
	}
	if err := atomicfile.SyncDir(tmp); err != nil {
		return Segment{}, fmt.Errorf("flagged: %w", err)
	}
	s.step("json")
	final := s.Dir(seg.ID)
	if err := os.Rename(tmp, final); err != nil {
		return Segment{}, fmt.Errorf("flagged: %w", err)
	}
	ok = true
	s.step("renamed")
	if err := atomicfile.SyncDir(s.cfg.Dir); err != nil {
		return Segment{}, fmt.Errorf("flagged: %w", err)
	}
	s.step("done")
	s.mu.Lock()
	s.segs[seg.ID] = &entry{seg: seg, bytes: dirSize(final)}
	s.enforceQuota(seg.ID)
	s.mu.Unlock()
	return seg, nil
}

func (s *Store) step(name string) {
	if s.cfg.hook != nil {
		s.cfg.hook(name)
	}
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("flagged: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("flagged: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("flagged: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("flagged: %w", err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("flagged: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("flagged: sync %s: %w", path, err)
	}
	return nil
}

// List returns every segment, oldest moment first.
func (s *Store) List() []Segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Segment, 0, len(s.segs))
	for _, e := range s.segs {
		out = append(out, e.seg)
	}
	sortOldestFirst(out)
	return out
}

func sortOldestFirst(segs []Segment) {
	sort.Slice(segs, func(i, j int) bool {
		if !segs[i].At.Equal(segs[j].At) {
			return segs[i].At.Before(segs[j].At)
		}
		return segs[i].ID < segs[j].ID
	})
}

// Get returns one segment.
func (s *Store) Get(id string) (Segment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.segs[id]
	if !ok {
		return Segment{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return e.seg, nil
}

// Update changes a stored segment's findings, transcript or clip fields
// (a finding that joined it): f edits a copy, which is validated and
// replaces segment.json atomically. Its identity, status and clip file are
// the store's and cannot be changed this way.
func (s *Store) Update(id string, f func(*Segment) error) (Segment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.segs[id]
	if !ok {
		return Segment{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	seg := e.seg
	seg.Findings = append([]Finding(nil), seg.Findings...)
	seg.Transcript.Captions = append([]Caption(nil), seg.Transcript.Captions...)
	if err := f(&seg); err != nil {
		return Segment{}, err
	}
	old := e.seg
	seg.Version, seg.ID, seg.Reason, seg.Status, seg.StatusAt, seg.Created = old.Version, old.ID, old.Reason, old.Status, old.StatusAt, old.Created
	if (seg.Clip == nil) != (old.Clip == nil) {
		return Segment{}, errors.New("flagged: Update cannot add or remove the clip; use AttachClip")
	}
	if seg.Findings == nil {
		seg.Findings = []Finding{}
	}
	if seg.Transcript.Captions == nil {
		seg.Transcript.Captions = []Caption{}
	}
	seg.Updated = s.cfg.Now()
	if err := s.rewriteLocked(&seg); err != nil {
		return Segment{}, err
	}
	e.seg = seg
	return seg, nil
}

// AttachClip adds the clip to a segment written without it: writeClip
// writes it to the path it is given (atomically, as
// record.Recorder.ClipFile does), then segment.json is replaced. When
// writeClip fails, the error is noted in the segment instead. The quota is
// enforced afterwards, sparing this segment.
func (s *Store) AttachClip(id string, writeClip func(path string) (*Clip, error)) (Segment, error) {
	if _, err := s.Get(id); err != nil {
		return Segment{}, err
	}
	// The clip is written without the lock: it takes a while, and
	// findings may join meanwhile.
	path := s.ClipPath(id)
	clip, cerr := writeClip(path)
	if cerr == nil && clip != nil {
		if err := syncFile(path); err != nil {
			cerr = err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.segs[id]
	if !ok {
		os.Remove(path)
		return Segment{}, fmt.Errorf("%w: %q (deleted while its clip was cut)", ErrNotFound, id)
	}
	seg := e.seg
	seg.ClipPending = nil
	switch {
	case cerr != nil:
		os.Remove(path)
		seg.Clip, seg.ClipError = nil, cerr.Error()
		s.log.Warn("flagged: segment kept without its clip", "id", id, "err", cerr)
	case clip != nil:
		clip.File = ClipFile
		seg.Clip, seg.ClipError = clip, ""
	}
	seg.Updated = s.cfg.Now()
	if err := s.rewriteLocked(&seg); err != nil {
		return Segment{}, err
	}
	e.seg = seg
	e.bytes = dirSize(s.Dir(id))
	s.enforceQuota(id)
	return seg, nil
}

// rewriteLocked validates seg and replaces its segment.json atomically.
func (s *Store) rewriteLocked(seg *Segment) error {
	if err := seg.Validate(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(seg, "", "  ")
	if err != nil {
		return fmt.Errorf("flagged: %w", err)
	}
	path := filepath.Join(s.Dir(seg.ID), JSONFile)
	if err := s.roomFor(func() error { return atomicfile.WriteFile(path, data, 0o640) }); err != nil {
		return fmt.Errorf("flagged: update %s: %w", seg.ID, err)
	}
	return nil
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Segments = len(s.segs)
	for _, e := range s.segs {
		st.Bytes += e.bytes
		if e.seg.Status == StatusPending {
			st.Pending++
		}
		if e.seg.ClipPending != nil {
			st.ClipsPending++
		}
	}
	return st
}

// SetStatus records that a segment was uploaded or reviewed. segment.json
// is replaced atomically.
func (s *Store) SetStatus(id string, st Status) error {
	if !st.Valid() {
		return fmt.Errorf("flagged: unknown status %q", st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.segs[id]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	seg := e.seg
	seg.Status = st
	seg.StatusAt = s.cfg.Now()
	data, err := json.MarshalIndent(&seg, "", "  ")
	if err != nil {
		return fmt.Errorf("flagged: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(s.Dir(id), JSONFile), data, 0o640); err != nil {
		return fmt.Errorf("flagged: status of %s: %w", id, err)
	}
	e.seg = seg
	return nil
}

// Delete removes a segment.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.segs[id]; !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return s.deleteLocked(id)
}

func (s *Store) deleteLocked(id string) error {
	// Rename first so a power cut mid-delete leaves a temp dir that Open
	// removes, never a segment missing its clip.
	doomed := filepath.Join(s.cfg.Dir, tmpPrefix+"del-"+id)
	if err := os.Rename(s.Dir(id), doomed); err != nil {
		return fmt.Errorf("flagged: delete %s: %w", id, err)
	}
	delete(s.segs, id)
	if err := atomicfile.SyncDir(s.cfg.Dir); err != nil {
		s.log.Warn("flagged: sync after delete", "err", err)
	}
	if err := os.RemoveAll(doomed); err != nil {
		return fmt.Errorf("flagged: delete %s: %w", id, err)
	}
	return nil
}

// Bytes is the store's size on disk.
func (s *Store) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, e := range s.segs {
		n += e.bytes
	}
	return n
}

// Quota is the bound on the segments' total size (0: none), as opened.
func (s *Store) Quota() int64 { return s.cfg.QuotaBytes }

// enforceQuota deletes segments until the store fits: reviewed or uploaded
// ones first (oldest first), then the oldest pending. keep (the segment
// just written) is never deleted, even when it alone is over the quota.
func (s *Store) enforceQuota(keep string) {
	if s.cfg.QuotaBytes == 0 {
		return
	}
	var total int64
	segs := make([]Segment, 0, len(s.segs))
	for _, e := range s.segs {
		total += e.bytes
		segs = append(segs, e.seg)
	}
	if total <= s.cfg.QuotaBytes {
		return
	}
	sortOldestFirst(segs)
	done := func(s Segment) bool { return s.Status != StatusPending }
	order := make([]Segment, 0, len(segs))
	for _, sg := range segs {
		if done(sg) {
			order = append(order, sg)
		}
	}
	for _, sg := range segs {
		if !done(sg) {
			order = append(order, sg)
		}
	}
	for _, sg := range order {
		if total <= s.cfg.QuotaBytes {
			return
		}
		if sg.ID == keep {
			continue
		}
		n := s.segs[sg.ID].bytes
		if err := s.deleteLocked(sg.ID); err != nil {
			s.log.Warn("flagged: quota delete failed", "id", sg.ID, "err", err)
			continue
		}
		total -= n
		s.stats.Evicted++
		if !done(sg) {
			s.stats.PendingEvicted++
			s.log.Error("flagged: quota deleted a segment never uploaded", "id", sg.ID, "at", sg.At)
			continue
		}
		s.log.Info("flagged: deleted for quota", "id", sg.ID, "status", sg.Status)
	}
}
