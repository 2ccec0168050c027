package record

import (
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/streamtest"
)

// fragmentVideoDurations returns each fragment's video duration and
// whether it starts with a keyframe.
func fragmentVideoDurations(idx *segmentIndex) (durs []time.Duration, keyStart []bool) {
	for _, f := range idx.fragments {
		for _, r := range f.runs {
			if r.trackID != uint32(idx.video.ID) || len(r.samples) == 0 {
				continue
			}
			var ticks uint64
			for _, s := range r.samples {
				ticks += uint64(s.duration)
			}
			durs = append(durs, scaleToDuration(ticks, idx.video.TimeScale))
			keyStart = append(keyStart, !r.samples[0].nonSync)
		}
	}
	return durs, keyStart
}

func TestRecordSegmentsPlay(t *testing.T) {
	const total = 10 * time.Second
	for _, tc := range []struct {
		name    string
		gop     time.Duration
		segment time.Duration
		// every fragment must begin with a keyframe when keyframes come
		// at least every 2 s
		keyFragments bool
	}{
		{"gop1s", time.Second, 4 * time.Second, true},
		{"gop2s", 2 * time.Second, 4 * time.Second, true},
		{"gop3s", 3 * time.Second, 6 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rec, res := recordStream(t, Config{Dir: dir, SegmentDuration: tc.segment},
				streamtest.Options{Duration: total, NoPace: true, GOP: tc.gop, Width: 320, Height: 240, VideoKbps: 400})
			st := rec.Stats()
			if st.UnitsDropped != 0 || st.WriteErrors != 0 || !st.Healthy {
				t.Errorf("stats %+v", st)
			}
			files := segmentFiles(t, dir)
			wantSegs := int((total + tc.segment - 1) / tc.segment)
			if len(files) != wantSegs || st.Segments != wantSegs {
				t.Fatalf("%d files, stats %d segments; want %d", len(files), st.Segments, wantSegs)
			}
			var sum time.Duration
			var frags int
			for i, f := range files {
				idx := scanFile(t, f)
				p := ffprobe(t, f)
				ffprobeDecode(t, f)
				if c := p.codecs(); c["video"] != "h264" || c["audio"] != "aac" {
					t.Errorf("%s: codecs %v", f, c)
				}
				if !firstVideoPacketKey(t, f) {
					t.Errorf("%s does not start with a keyframe", f)
				}
				want := tc.segment
				if i == len(files)-1 {
					want = total - tc.segment*time.Duration(len(files)-1)
				}
				if d := p.duration(); absDur(d-want) > 150*time.Millisecond {
					t.Errorf("%s: ffprobe duration %v, want %v", f, d, want)
				}
				sum += idx.duration()
				durs, keys := fragmentVideoDurations(idx)
				frags += len(durs)
				for j, d := range durs {
					last := j == len(durs)-1
					if d > 2*time.Second+time.Millisecond || d < time.Second && !last {
						t.Errorf("%s fragment %d lasts %v", f, j, d)
					}
					if tc.keyFragments && !keys[j] {
						t.Errorf("%s fragment %d does not start at a keyframe", f, j)
					}
				}
			}
			if absDur(sum-total) > 100*time.Millisecond {
				t.Errorf("recorded %v in total, want %v", sum, total)
			}
			if uint64(frags) != st.FragmentsWritten {
				t.Errorf("files hold %d fragments, stats say %d", frags, st.FragmentsWritten)
			}
			t.Logf("%d units, %d segments, %d fragments, last fsync %v", res.VideoUnits+res.AudioUnits, len(files), frags, st.LastFsync)
		})
	}
}
