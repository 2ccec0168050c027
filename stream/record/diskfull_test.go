package record

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/internal/tmpfstest"
	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/streamtest"
)

// fillAt runs fill once, when the stream reaches at and everything before
// it is on disk: the card runs full at a known point of the recording.
type fillAt struct {
	*Recorder
	at   time.Duration
	once sync.Once
	fill func()
}

func (f *fillAt) WriteVideo(u *stream.VideoUnit) { chain{f}.WriteVideo(u) }

// fillDisk writes path until the filesystem says it is full, as a runaway
// log or a copied-in video would, and keeps the file.
func fillDisk(t *testing.T, path string) int64 {
	f, err := os.Create(path)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{'x'}, 64<<10)
	var n int64
	for {
		k, err := f.Write(chunk)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Errorf("filling the card: %v", err)
			return n
		}
	}
}

// A card that runs full while recording (issue 19 item 8): a real tmpfs
// fills up, out of space or out of inodes. The recorder must delete its
// oldest closed recordings and go on, without a hole worth mentioning,
// say so in Stats, and leave the reserve for the flagged moments.
func TestCardFullKeepsRecording(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mount string
		// fill fills the card with something else at 20 s.
		fill bool
		// reserve is Config.ReserveBytes; without one, the recorder
		// only learns of the full card from the kernel's ENOSPC.
		reserve int64
	}{
		{name: "space", mount: "size=20m", fill: true, reserve: 2 << 20},
		{name: "space/no reserve", mount: "size=20m", fill: true, reserve: -1},
		// The ring itself runs out of inodes: creating a segment fails
		// with ENOSPC while free space is plenty.
		{name: "inodes", mount: "size=64m,nr_inodes=12", reserve: 2 << 20},
		{name: "inodes/no reserve", mount: "size=64m,nr_inodes=12", reserve: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := tmpfstest.Mount(t, tc.mount)
			dir := filepath.Join(card, "recording")
			rec, stop := startRecorder(t, Config{Dir: dir, QuotaBytes: 1 << 30, ReserveBytes: tc.reserve,
				SegmentDuration: 2 * time.Second})
			if q := rec.Stats().QuotaBytes; q > 20<<20-max(tc.reserve, 0) && tc.fill || q > 64<<20 {
				t.Errorf("quota %d bytes in force on a %s card: not reduced to what fits", q, tc.mount)
			}
			var filled int64
			sink := &fillAt{Recorder: rec, at: 20 * time.Second, fill: func() {
				if tc.fill {
					filled = fillDisk(t, filepath.Join(card, "filler"))
				}
			}}
			opts := streamtest.Options{NoPace: true, GOP: time.Second, Width: 640, Height: 360, VideoKbps: 2500,
				Duration: 40 * time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := streamtest.Run(ctx, t, sink, opts)
			if err != nil {
				t.Fatal(err)
			}
			stop()
			st := rec.Stats()
			t.Logf("filler %d bytes; stats %+v", filled, st)

			// The flagged moments beside the ring can still be written.
			if tc.reserve > 0 {
				flaggedDir := filepath.Join(card, "flagged")
				if err := os.MkdirAll(flaggedDir, 0o755); err != nil {
					t.Fatalf("flagged dir on the full card: %v", err)
				}
				if err := os.WriteFile(filepath.Join(flaggedDir, "segment.json"), bytes.Repeat([]byte{'{'}, 1<<20), 0o644); err != nil {
					t.Errorf("a 1 MiB flagged moment cannot be written on the full card: %v", err)
				}
			}

			if st.DiskFull == 0 || st.SegmentsEvicted == 0 || st.LastDiskFull.IsZero() {
				t.Errorf("the full card is not reported: %+v", st)
			}
			// What is left covers the end of the stream, with no hole
			// between the files worth more than a fragment.
			files := segmentFiles(t, dir)
			if len(files) < 2 {
				t.Fatalf("%d files left", len(files))
			}
			var prevEnd time.Time
			var holes time.Duration
			for _, f := range files {
				start, _, _ := parseSegmentName(filepath.Base(f))
				end := start.Add(scanFile(t, f).duration())
				if !prevEnd.IsZero() {
					holes += max(0, start.Sub(prevEnd))
				}
				prevEnd = end
			}
			wantEnd, _ := rec.WallTime(res.Last)
			if d := wantEnd.Sub(prevEnd); d > 2*time.Second {
				t.Errorf("recording ends %v before the stream: it stopped when the card ran full", d)
			}
			if holes > 2*time.Second || st.GapTotal > 2*time.Second {
				t.Errorf("holes between the files %v, gaps reported %v (%d)", holes, st.GapTotal, st.Gaps)
			}
			ffprobe(t, files[len(files)-1])
			t.Logf("%d files left, %v of holes", len(files), holes)
		})
	}
}

// A card full of something else, with less recording on it than the
// reserve: recording pauses (the flagged moments keep their room) and
// resumes within a keyframe once space is freed; the hole is measured and
// reported.
func TestCardFullGapReported(t *testing.T) {
	card := tmpfstest.Mount(t, "size=20m")
	dir := filepath.Join(card, "recording")
	rec, stop := startRecorder(t, Config{Dir: dir, QuotaBytes: 1 << 30, ReserveBytes: 4 << 20,
		SegmentDuration: 2 * time.Second})
	filler := filepath.Join(card, "filler")
	freed := &fillAt{Recorder: rec, at: 12 * time.Second, fill: func() {
		if err := os.Remove(filler); err != nil {
			t.Error(err)
		}
	}}
	full := &fillAt{Recorder: rec, at: 6 * time.Second, fill: func() { fillDisk(t, filler) }}
	var midGap Stats
	sink := &fillAt{Recorder: rec, at: 10 * time.Second, fill: func() { midGap = rec.Stats() }}
	opts := streamtest.Options{NoPace: true, GOP: time.Second, Width: 320, Height: 240, VideoKbps: 400,
		Duration: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := streamtest.Run(ctx, t, chain{freed, full, sink}, opts)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	st := rec.Stats()
	t.Logf("mid-gap %+v\nend %+v", midGap, st)
	if midGap.Healthy || midGap.LastError == "" || midGap.DiskFull == 0 {
		t.Errorf("while the card is full the recorder does not say so: %+v", midGap)
	}
	if st.Gaps != 1 || st.LastGap < 5*time.Second || st.LastGap > 8*time.Second || !st.Healthy {
		t.Errorf("a 6 s hole (6 s to 12 s of the stream, to the next keyframe) is reported as %d gaps, last %v, healthy %v",
			st.Gaps, st.LastGap, st.Healthy)
	}
	files := segmentFiles(t, dir)
	last := files[len(files)-1]
	start, _, _ := parseSegmentName(filepath.Base(last))
	wantEnd, _ := rec.WallTime(res.Last)
	if d := wantEnd.Sub(start.Add(scanFile(t, last).duration())); d > 2*time.Second {
		t.Errorf("recording ends %v before the stream: it did not resume", d)
	}
}

// chain hands each video unit to every hook, then records it once.
type chain []*fillAt

func (c chain) SetTracks(tr stream.Tracks)     { c[0].SetTracks(tr) }
func (c chain) WriteAudio(u *stream.AudioUnit) { c[0].WriteAudio(u) }
func (c chain) WriteVideo(u *stream.VideoUnit) {
	for _, f := range c {
		if u != nil && u.DTS >= f.at {
			f.once.Do(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := f.barrier(ctx); err == nil {
					f.fill()
				}
			})
		}
	}
	c[0].Recorder.WriteVideo(u)
}

// MakeRoom is how a flagged moment gets onto a card that something else
// filled: old recordings go until it fits, beyond the reserve.
func TestMakeRoomForFlaggedMoments(t *testing.T) {
	card := tmpfstest.Mount(t, "size=20m")
	rec, stop := startRecorder(t, Config{Dir: filepath.Join(card, "recording"), QuotaBytes: 1 << 30,
		ReserveBytes: 1 << 20, SegmentDuration: 2 * time.Second})
	opts := streamtest.Options{NoPace: true, GOP: time.Second, Width: 640, Height: 360, VideoKbps: 2500,
		Duration: 12 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := streamtest.Run(ctx, t, rec, opts); err != nil {
		t.Fatal(err)
	}
	stop()
	fillDisk(t, filepath.Join(card, "filler"))
	moment := bytes.Repeat([]byte{'{'}, 512<<10)
	flagged := filepath.Join(card, "segment.json")
	if err := os.WriteFile(flagged, moment, 0o644); err == nil {
		t.Fatal("the filled card still took the moment: the test proves nothing")
	}
	before := rec.Stats().SegmentsEvicted
	if !rec.MakeRoom(int64(len(moment))) {
		t.Fatalf("MakeRoom found no room; stats %+v", rec.Stats())
	}
	if err := os.WriteFile(flagged, moment, 0o644); err != nil {
		t.Fatalf("the moment after MakeRoom: %v", err)
	}
	if rec.Stats().SegmentsEvicted == before {
		t.Fatal("MakeRoom deleted no recording")
	}
}
