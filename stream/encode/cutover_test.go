package encode

import (
	"fmt"
	"testing"
	"time"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/streamtest"
)

// TestCutOverTimestampsAlwaysRise plays the orders in which the running
// encoder's last units and a replacement's (or a restarted encoder's)
// first ones can meet, on clocks a few nanoseconds or a fraction of a frame
// apart as two ffmpegs' are. Whatever the order, video DTS and audio PTS
// leave the encoder at least minStep apart (one recording in 22 had a
// repeated DTS: the running encoder's last frame and the replacement's
// keyframe were nanoseconds apart and shared a 90 kHz tick), and no frame
// goes out whose reference frames did not.
func TestCutOverTimestampsAlwaysRise(t *testing.T) {
	frame := time.Second / 30
	at := func(n int) time.Duration { return time.Duration(n) * time.Second / 30 }
	const aac = 1024 * time.Second / 48000
	const cut = 30 // the planned keyframe, frames
	type run struct {
		from        int  // 1 = running encoder, 2 = replacement or restart
		audio       bool // AAC frames n*aac+shift instead of video at(n)+shift
		first, last int
		shift       time.Duration
		key         int // the keyframe in this run (video), -1 none
		thenDies    bool
		// thenSwitch: the replacement is started only after this run
		// (else at once), so what came before went out unheld.
		thenSwitch bool
	}
	for _, tc := range []struct {
		name string
		live bool
		// restart: instance 2 becomes the active one after instance 1
		// died (no switch); otherwise it is the pending replacement.
		restart bool
		runs    []run
		// wantFirst is the replacement's first delivered frame (its
		// keyframe, never a later one: that would be a GOP's stall).
		wantFirst int
	}{
		{
			name: "live: running encoder reaches the cut first, its unit nanoseconds before the keyframe",
			live: true,
			runs: []run{
				{from: 1, first: 0, last: 34, shift: -200 * time.Nanosecond, key: 0},
				{from: 2, first: cut, last: 60, key: cut},
			},
			wantFirst: cut,
		},
		{
			name: "live: keyframe first, running encoder reaches the cut later",
			live: true,
			runs: []run{
				{from: 1, first: 0, last: 20, shift: -200 * time.Nanosecond, key: 0},
				{from: 2, first: cut, last: 40, key: cut},
				{from: 1, first: 21, last: 45, shift: -200 * time.Nanosecond, key: -1},
				{from: 2, first: 41, last: 60, key: -1},
			},
			wantFirst: cut,
		},
		{
			name: "live: keyframe half a frame early, just after the running encoder's last delivered unit",
			live: true,
			runs: []run{
				{from: 1, first: 0, last: 34, shift: -frame/2 - 500*time.Microsecond, key: 0},
				{from: 2, first: cut, last: 60, shift: -frame / 2, key: cut},
			},
			wantFirst: cut,
		},
		{
			name: "live: running encoder dies on the keyframe's instant",
			live: true,
			runs: []run{
				{from: 1, first: 0, last: cut, shift: -300 * time.Nanosecond, key: 0, thenDies: true},
				{from: 2, first: cut, last: 60, key: cut},
			},
			wantFirst: cut,
		},
		{
			name: "live: audio of both encoders at the cut",
			live: true,
			runs: []run{
				{from: 1, first: 0, last: 34, key: 0},
				{from: 1, audio: true, first: 0, last: 55, shift: at(cut) - 47*aac - 300*time.Nanosecond},
				{from: 2, audio: true, first: 0, last: 40, shift: at(cut)},
				{from: 2, first: cut, last: 60, key: cut},
			},
			wantFirst: cut,
		},
		{
			name: "held switch: replacement's keyframe on the running encoder's last delivered unit",
			runs: []run{
				{from: 1, first: 0, last: 25, key: 0, thenSwitch: true},
				{from: 2, first: 25, last: 60, key: 25},
			},
			wantFirst: 25,
		},
		{
			name: "held switch: replacement's keyframe well behind what went out",
			runs: []run{
				{from: 1, first: 0, last: 25, key: 0, thenSwitch: true},
				{from: 2, first: 10, last: 40, key: 10},
				{from: 2, first: 41, last: 60, key: 41},
			},
			wantFirst: 41, // the next keyframe: the first one is in the past
		},
		{
			name:    "restart: the new encoder's first keyframe nanoseconds after the dead one's last unit",
			restart: true,
			runs: []run{
				{from: 1, first: 0, last: 20, key: 0, thenDies: true},
				{from: 2, first: 20, last: 50, shift: 300 * time.Nanosecond, key: 20},
			},
			wantFirst: 20,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &streamtest.Recorder{}
			e, err := New(Config{Input: hw.VideoFormat{Width: 640, Height: 360, FPS: 30}, LiveSwitch: tc.live, Logger: quietLogger()}, rec)
			if err != nil {
				t.Fatal(err)
			}
			tracks := stream.Tracks{Width: 640, Height: 360, FPS: 30, SPS: []byte{0x67}, PPS: []byte{0x68},
				AudioConfig: []byte{0x11, 0x90}, SampleRate: 48000, Channels: 1}
			running := &instance{id: 1, anchored: true, offsetSet: true, tracks: tracks, haveTrack: true}
			next := &instance{id: 2, anchored: true, offsetSet: true, tracks: tracks, haveTrack: true}
			e.out.active = running
			startSwitch := func() {
				e.out.pending = next
				if tc.live {
					next.cutAt = at(cut)
				}
			}
			if !tc.restart && !tc.runs[0].thenSwitch {
				startSwitch()
			}
			inst := map[int]*instance{1: running, 2: next}
			// offered[i] lists instance i's video frames in the order it
			// made them; delivered units are found by their tag.
			offered := map[int][]int{}
			for _, r := range tc.runs {
				for n := r.first; n <= r.last; n++ {
					if r.audio {
						e.onAudio(inst[r.from], &stream.AudioUnit{PTS: time.Duration(n)*aac + r.shift, Data: []byte{byte(r.from)}})
						continue
					}
					offered[r.from] = append(offered[r.from], n)
					d := at(n) + r.shift
					e.onVideo(inst[r.from], &stream.VideoUnit{PTS: d, DTS: d, Key: n == r.key, NALUs: [][]byte{{byte(r.from), byte(n)}}})
				}
				if r.thenSwitch {
					startSwitch()
				}
				if r.thenDies {
					e.outMu.Lock()
					e.out.activeGone = true
					if tc.restart {
						e.out.active, e.out.activeGone = next, false
					} else if e.out.pending != nil && len(e.out.pendingVideo) > 0 {
						e.takeOver(e.out.pending)
					}
					e.outMu.Unlock()
				}
			}

			video := rec.Video()
			if len(video) == 0 {
				t.Fatal("no video delivered")
			}
			var prevTag []byte
			first2 := -1
			for i, u := range video {
				tag := u.NALUs[0]
				if i > 0 && u.DTS < video[i-1].DTS+minStep {
					t.Errorf("video DTS %v after %v (instance %d frame %d after instance %d frame %d): less than %v",
						u.DTS, video[i-1].DTS, tag[0], tag[1], prevTag[0], prevTag[1], minStep)
				}
				if u.PTS != u.DTS {
					t.Errorf("instance %d frame %d: PTS %v != DTS %v (no B-frames: the two move together)", tag[0], tag[1], u.PTS, u.DTS)
				}
				if tag[0] == 2 && first2 < 0 {
					first2 = int(tag[1])
				}
				if !u.Key {
					// It decodes only if the frame before it, from its own
					// encoder, went out just before it.
					if prevTag == nil || prevTag[0] != tag[0] || !follows(offered[int(tag[0])], int(prevTag[1]), int(tag[1])) {
						t.Errorf("instance %d frame %d went out after %s: its reference frame did not", tag[0], tag[1], describe(prevTag))
					}
				}
				prevTag = tag
			}
			if first2 != tc.wantFirst {
				t.Errorf("the replacement's first frame out is %d, want %d", first2, tc.wantFirst)
			}
			if last := video[len(video)-1].NALUs[0]; last[0] != 2 {
				t.Errorf("the last frame out is from instance %d", last[0])
			}
			audio := rec.Audio()
			for i := 1; i < len(audio); i++ {
				if audio[i].PTS < audio[i-1].PTS+minStep {
					t.Errorf("audio PTS %v (instance %d) after %v (instance %d): less than %v",
						audio[i].PTS, audio[i].Data[0], audio[i-1].PTS, audio[i-1].Data[0], minStep)
				}
			}
		})
	}
}

// follows reports whether b comes right after a in seq.
func follows(seq []int, a, b int) bool {
	for i := 1; i < len(seq); i++ {
		if seq[i] == b {
			return seq[i-1] == a
		}
	}
	return false
}

func describe(tag []byte) string {
	if tag == nil {
		return "nothing"
	}
	return fmt.Sprintf("instance %d frame %d", tag[0], tag[1])
}
