package record

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/streamtest"
)

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	for _, f := range segmentFiles(t, dir) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// watchBytes samples Stats().BytesOnDisk until stop and returns the peak.
func watchBytes(rec *Recorder) (peak *atomic.Int64, stop func()) {
	peak = new(atomic.Int64)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			if b := rec.Stats().BytesOnDisk; b > peak.Load() {
				peak.Store(b)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return peak, func() { close(done); <-finished }
}

var smallStream = streamtest.Options{NoPace: true, GOP: time.Second, Width: 320, Height: 240, VideoKbps: 400}

func TestQuotaBoundsDisk(t *testing.T) {
	const quota = 400 << 10
	dir := t.TempDir()
	rec, stop := startRecorder(t, Config{Dir: dir, QuotaBytes: quota, SegmentDuration: 2 * time.Second})
	peak, stopWatch := watchBytes(rec)
	opts := smallStream
	opts.Duration = 12 * time.Second
	if _, err := streamtest.Run(context.Background(), t, rec, opts); err != nil {
		t.Fatal(err)
	}
	stop()
	stopWatch()
	st := rec.Stats()
	if peak.Load() > quota || st.BytesOnDisk > quota || dirBytes(t, dir) > quota {
		t.Errorf("disk use peak %d, now %d (dir %d), quota %d", peak.Load(), st.BytesOnDisk, dirBytes(t, dir), quota)
	}
	if st.BytesOnDisk != dirBytes(t, dir) {
		t.Errorf("stats say %d bytes, dir holds %d", st.BytesOnDisk, dirBytes(t, dir))
	}
	if st.SegmentsDeleted == 0 || st.FragmentsDropped != 0 || st.WriteErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	// The newest recording survives: the files left end where the stream did.
	files := segmentFiles(t, dir)
	var kept time.Duration
	for _, f := range files {
		kept += scanFile(t, f).duration()
		ffprobe(t, f)
	}
	lastStart, lastSeq, _ := parseSegmentName(filepath.Base(files[len(files)-1]))
	if want, _ := rec.WallTime(10 * time.Second); !lastStart.Equal(want.Truncate(time.Millisecond)) || lastSeq != 5 {
		t.Errorf("last file %s, want the segment starting at 10 s", filepath.Base(files[len(files)-1]))
	}
	t.Logf("kept %d files, %v of media, %d bytes, peak %d", len(files), kept, st.BytesOnDisk, peak.Load())
}

// A quota smaller than one segment: the recorder drops what does not fit,
// says so, never exceeds the quota and never stalls the stream.
func TestQuotaTooSmall(t *testing.T) {
	const quota = 60 << 10
	dir := t.TempDir()
	rec, stop := startRecorder(t, Config{Dir: dir, QuotaBytes: quota, SegmentDuration: 2 * time.Second})
	peak, stopWatch := watchBytes(rec)
	opts := smallStream
	opts.Duration = 6 * time.Second
	if _, err := streamtest.Run(context.Background(), t, rec, opts); err != nil {
		t.Fatal(err)
	}
	stop()
	stopWatch()
	st := rec.Stats()
	if peak.Load() > quota || dirBytes(t, dir) > quota {
		t.Errorf("peak %d, dir %d, quota %d", peak.Load(), dirBytes(t, dir), quota)
	}
	if st.FragmentsDropped == 0 || st.LastError == "" {
		t.Errorf("no drop reported: %+v", st)
	}
	for _, f := range segmentFiles(t, dir) {
		ffprobe(t, f)
	}
}

// holdFirst places a Hold over the first segment as soon as the stream's
// first unit has fixed the wall clock, before any quota pressure.
type holdFirst struct {
	*Recorder
	id HoldID
}

func (h *holdFirst) WriteVideo(u *stream.VideoUnit) {
	h.Recorder.WriteVideo(u)
	if h.id == 0 {
		at, _ := h.WallTime(u.DTS)
		h.id = h.Hold(at.Add(-time.Hour), at.Add(500*time.Millisecond))
	}
}

func TestHoldProtectsSegments(t *testing.T) {
	const quota = 400 << 10
	dir := t.TempDir()
	rec, stop := startRecorder(t, Config{Dir: dir, QuotaBytes: quota, SegmentDuration: 2 * time.Second})
	defer stop()
	first := func() bool {
		for _, f := range segmentFiles(t, dir) {
			if _, seq, _ := parseSegmentName(filepath.Base(f)); seq == 0 {
				return true
			}
		}
		return false
	}
	sink := &holdFirst{Recorder: rec}
	opts := smallStream
	opts.Duration = 12 * time.Second
	if _, err := streamtest.Run(context.Background(), t, sink, opts); err != nil {
		t.Fatal(err)
	}
	if err := rec.barrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := rec.Stats()
	if !first() || st.SegmentsDeleted == 0 || st.HoldsOverridden != 0 || st.BytesOnDisk > quota {
		t.Fatalf("held segment kept: %v; stats %+v", first(), st)
	}
	rec.Release(sink.id)
	rec.Release(sink.id)
	// A second session: the released segment is now the oldest and goes.
	opts.Duration = 3 * time.Second
	if _, err := streamtest.Run(context.Background(), t, rec, opts); err != nil {
		t.Fatal(err)
	}
	stop()
	if first() {
		t.Error("released segment survived the quota")
	}
	if b := dirBytes(t, dir); b > quota {
		t.Errorf("dir holds %d bytes, quota %d", b, quota)
	}
}

// TestDiskFailureKeepsTrying swaps the ring directory for a plain file
// (creating segments then fails with ENOTDIR, even for root) and back.
func TestDiskFailureKeepsTrying(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ring")
	rec, stop := startRecorder(t, Config{Dir: dir, SegmentDuration: time.Second})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func() {
		t.Helper()
		opts := smallStream
		opts.Duration = 3 * time.Second
		if _, err := streamtest.Run(ctx, t, rec, opts); err != nil {
			t.Fatal(err)
		}
		if err := rec.barrier(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run()
	good := rec.Stats()
	if good.WriteErrors != 0 || !good.Healthy || good.FragmentsWritten == 0 {
		t.Fatalf("healthy phase: %+v", good)
	}

	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	run()
	bad := rec.Stats()
	if bad.WriteErrors == 0 || bad.Healthy || bad.LastError == "" || bad.UnitsDropped == 0 {
		t.Fatalf("failing phase: %+v", bad)
	}
	t.Logf("while failing: %s", bad.LastError)

	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	run()
	healed := rec.Stats()
	if !healed.Healthy || healed.FragmentsWritten <= bad.FragmentsWritten {
		t.Fatalf("after repair: %+v", healed)
	}
	stop()
	for _, f := range segmentFiles(t, dir) {
		ffprobe(t, f)
	}
}
