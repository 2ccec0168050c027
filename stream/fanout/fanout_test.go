package fanout

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream"
)

// gop builds n video units starting with a keyframe, each size bytes.
func gop(start time.Duration, n, size int) []*stream.VideoUnit {
	out := make([]*stream.VideoUnit, n)
	for i := range out {
		ts := start + time.Duration(i)*33*time.Millisecond
		out[i] = &stream.VideoUnit{PTS: ts, DTS: ts, Key: i == 0, NALUs: [][]byte{make([]byte, size)}}
	}
	return out
}

// drain takes everything currently queued and describes it: T tracks,
// K keyframe, v other video, a audio.
func drain(q *Queue) string {
	var b strings.Builder
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Next returns immediately once empty
	for {
		it, err := q.Next(ctx)
		if err != nil {
			return b.String()
		}
		switch it.Kind {
		case KindTracks:
			b.WriteByte('T')
		case KindVideo:
			if it.Video.Key {
				b.WriteByte('K')
			} else {
				b.WriteByte('v')
			}
		case KindAudio:
			b.WriteByte('a')
		}
	}
}

// feed pushes a script: T tracks, K keyframe, v P-frame, a audio, B a big
// (1000 byte) P-frame, G a big keyframe.
func feed(q *Queue, script string) {
	for i, c := range script {
		ts := time.Duration(i) * time.Millisecond
		switch c {
		case 'T':
			q.SetTracks(stream.Tracks{Width: 640, Height: 360})
		case 'K':
			q.WriteVideo(&stream.VideoUnit{PTS: ts, DTS: ts, Key: true, NALUs: [][]byte{make([]byte, 10)}})
		case 'v':
			q.WriteVideo(&stream.VideoUnit{PTS: ts, DTS: ts, NALUs: [][]byte{make([]byte, 10)}})
		case 'G':
			q.WriteVideo(&stream.VideoUnit{PTS: ts, DTS: ts, Key: true, NALUs: [][]byte{make([]byte, 1000)}})
		case 'B':
			q.WriteVideo(&stream.VideoUnit{PTS: ts, DTS: ts, NALUs: [][]byte{make([]byte, 1000)}})
		case 'a':
			q.WriteAudio(&stream.AudioUnit{PTS: ts, Data: make([]byte, 10)})
		}
	}
}

func TestQueue(t *testing.T) {
	tests := []struct {
		name         string
		limits       QueueLimits
		script       string
		want         string
		wantDropped  uint64
		wantGOPSkips uint64
	}{
		{"waits for first keyframe", QueueLimits{}, "TvavKva", "TKva", 3, 0},
		{"tracks come in line", QueueLimits{}, "KvTKa", "KvTKa", 0, 0},
		{"units after tracks wait for a keyframe", QueueLimits{}, "KvTvaKa", "KvTKa", 2, 0},
		{"a skip keeps the tracks it passes", QueueLimits{MaxUnits: 5}, "KvTKvvv", "TKvvv", 2, 1},
		{"overflow skips to queued keyframe", QueueLimits{MaxUnits: 4}, "KvvKv", "Kv", 3, 1},
		{"overflow without keyframe waits for one", QueueLimits{MaxUnits: 3}, "KvvvavKv", "Kv", 6, 1},
		{"overflow on keyframe keeps it", QueueLimits{MaxUnits: 3}, "KvvKa", "Ka", 3, 1},
		{"byte limit", QueueLimits{MaxBytes: 1500}, "KBBvKv", "Kv", 4, 1},
		{"oversized keyframe into empty queue is kept", QueueLimits{MaxBytes: 100}, "G", "K", 0, 0},
		{"oversized keyframe forces a skip", QueueLimits{MaxBytes: 100}, "GvK", "K", 2, 1},
		{"media older than MaxDelay is skipped", QueueLimits{MaxDelay: 3 * time.Millisecond}, "KvvKvv", "Kvv", 3, 1},
		{"a keyframe behind more than CatchUp replaces the queue", QueueLimits{CatchUp: 4 * time.Millisecond}, "KvavvKv", "Kv", 5, 1},
		{"a keyframe within CatchUp queues behind", QueueLimits{CatchUp: 4 * time.Millisecond}, "KvvKv", "KvvKv", 0, 0},
		{"catching up keeps the tracks it passes", QueueLimits{CatchUp: 4 * time.Millisecond}, "KvvTvvKv", "TKv", 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := NewQueue(tt.limits)
			feed(q, tt.script)
			if got := drain(q); got != tt.want {
				t.Errorf("delivered %q, want %q", got, tt.want)
			}
			s := q.Stats()
			if s.DroppedUnits != tt.wantDropped || s.GOPSkips != tt.wantGOPSkips {
				t.Errorf("dropped %d skips %d, want %d %d", s.DroppedUnits, s.GOPSkips, tt.wantDropped, tt.wantGOPSkips)
			}
			if s.QueuedUnits != 0 || s.QueuedBytes != 0 {
				t.Errorf("queue not empty after drain: %+v", s)
			}
		})
	}
}

func TestSkipToLatestKey(t *testing.T) {
	tests := []struct {
		script, want string
		dropped      uint64
	}{
		{"TKvvKvaKa", "TKa", 6},
		{"TKvvKv", "TKv", 3},
		{"TKva", "TKva", 0}, // the only keyframe is already at the head
		{"Kv", "Kv", 0},
		{"TKvKv", "TKv", 2},
	}
	for _, tt := range tests {
		q := NewQueue(QueueLimits{})
		feed(q, tt.script)
		q.SkipToLatestKey()
		if got := drain(q); got != tt.want {
			t.Errorf("%s: delivered %q, want %q", tt.script, got, tt.want)
		}
		if d := q.Stats().DroppedUnits; d != tt.dropped {
			t.Errorf("%s: dropped %d, want %d", tt.script, d, tt.dropped)
		}
	}
}

func TestQueueCloseAndContext(t *testing.T) {
	q := NewQueue(QueueLimits{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := q.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next on empty queue = %v, want deadline", err)
	}
	feed(q, "TKv")
	if s := q.Stats(); s.QueuedUnits != 2 || s.QueuedBytes != 20 {
		t.Errorf("stats %+v, want 2 units 20 bytes", s)
	}
	q.Close()
	feed(q, "K")
	if _, err := q.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close = %v, want ErrClosed", err)
	}
}

// recorder is a Sink that can be made to block.
type recorder struct {
	gate chan struct{} // when non-nil, every call waits for it to close
	mu   sync.Mutex
	log  []byte
	keys int
	got  chan struct{}
}

func newRecorder(blocked bool) *recorder {
	r := &recorder{got: make(chan struct{}, 1)}
	if blocked {
		r.gate = make(chan struct{})
	}
	return r
}

func (r *recorder) add(c byte) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.log = append(r.log, c)
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
}

func (r *recorder) SetTracks(stream.Tracks) { r.add('T') }
func (r *recorder) WriteVideo(u *stream.VideoUnit) {
	if u.Key {
		r.add('K')
	} else {
		r.add('v')
	}
}
func (r *recorder) WriteAudio(*stream.AudioUnit) { r.add('a') }

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.log)
}

func (r *recorder) waitLen(t *testing.T, n int) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if s := r.String(); len(s) >= n {
			return s
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("got %d calls, want %d: %q", len(r.String()), n, r.String())
		}
	}
}

func TestBlockedOutputDoesNotStallOthers(t *testing.T) {
	f := New(nil)
	fast, stuck := newRecorder(false), newRecorder(true)
	if _, err := f.Add("fast", fast, QueueLimits{MaxUnits: 4096}); err != nil {
		t.Fatal(err)
	}
	stuckOut, err := f.Add("stuck", stuck, QueueLimits{MaxUnits: 64})
	if err != nil {
		t.Fatal(err)
	}
	f.SetTracks(stream.Tracks{Width: 1280, Height: 720})

	// 20 GOPs of 30 frames: far more than the stuck queue holds. The
	// producer must get through without ever waiting on the stuck output.
	const gops, perGOP = 20, 30
	done := make(chan struct{})
	go func() {
		defer close(done)
		for g := range gops {
			for _, u := range gop(time.Duration(g)*time.Second, perGOP, 100) {
				f.WriteVideo(u)
				f.WriteAudio(&stream.AudioUnit{PTS: u.PTS, Data: make([]byte, 8)})
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("producer stalled behind a blocked output")
	}
	got := fast.waitLen(t, 1+gops*perGOP*2)
	if want := "T" + strings.Repeat("K"+"a"+strings.Repeat("va", perGOP-1), gops); got != want {
		t.Errorf("fast output got %d calls, want %d in order", len(got), len(want))
	}
	s := stuckOut.Stats()
	if s.GOPSkips == 0 || s.DroppedUnits == 0 || s.QueuedUnits > 64 {
		t.Errorf("stuck output stats %+v: want GOP skips, drops, bounded queue", s)
	}

	// Unblock: the stuck output resumes at a keyframe after its tracks.
	close(stuck.gate)
	got = stuck.waitLen(t, 2)
	if got[0] != 'T' {
		t.Errorf("stuck output first call %q, want tracks", got[0])
	}
	if i := strings.IndexAny(got, "Kva"); i >= 0 && got[i] != 'K' {
		t.Errorf("stuck output resumed with %q, want keyframe: %q", got[i], got)
	}
	f.Close()
	for _, o := range []*Output{stuckOut} {
		select {
		case <-o.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("output goroutine did not exit after Close")
		}
	}
}

func TestLateJoinerStartsAtKeyframe(t *testing.T) {
	f := New(nil)
	f.SetTracks(stream.Tracks{Width: 720, Height: 1280})
	units := gop(0, 10, 10)
	for _, u := range units[:5] {
		f.WriteVideo(u)
	}
	late := newRecorder(false)
	if _, err := f.Add("late", late, QueueLimits{}); err != nil {
		t.Fatal(err)
	}
	for _, u := range units[5:] {
		f.WriteVideo(u) // mid-GOP: dropped for the late joiner
	}
	for _, u := range gop(time.Second, 3, 10) {
		f.WriteVideo(u)
	}
	if got := late.waitLen(t, 4); got != "TKvv" {
		t.Errorf("late joiner got %q, want TKvv", got)
	}
	f.Close()
}

type inline struct{ recorder }

func (*inline) SelfQueued() {}

func TestAddRemove(t *testing.T) {
	f := New(nil)
	f.SetTracks(stream.Tracks{})
	if _, err := f.Add("a", newRecorder(false), QueueLimits{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Add("a", newRecorder(false), QueueLimits{}); err == nil {
		t.Error("duplicate name accepted")
	}
	if _, err := f.Add("nil", nil, QueueLimits{}); err == nil {
		t.Error("nil sink accepted")
	}
	in := &inline{recorder: *newRecorder(false)}
	o, err := f.Add("inline", in, QueueLimits{})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteVideo(&stream.VideoUnit{Key: true})
	// SelfQueued outputs are called inline, synchronously.
	if got := in.String(); got != "TK" {
		t.Errorf("inline output got %q, want TK", got)
	}
	if o.Stats() != (QueueStats{}) {
		t.Errorf("inline output has queue stats %+v", o.Stats())
	}
	if !f.Remove("a") || f.Remove("a") {
		t.Error("Remove did not report presence correctly")
	}
	if n := len(f.Outputs()); n != 1 {
		t.Errorf("%d outputs left, want 1", n)
	}
}

// TestConcurrentAddRemove churns outputs while the stream runs (-race).
func TestConcurrentAddRemove(t *testing.T) {
	before := runtime.NumGoroutine()
	f := New(nil)
	f.SetTracks(stream.Tracks{})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			for _, u := range gop(time.Duration(i)*time.Second, 30, 50) {
				f.WriteVideo(u)
			}
		}
	})
	var outs []*Output
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprint("o", i%4)
		if !f.Remove(name) {
			o, err := f.Add(name, newRecorder(false), QueueLimits{MaxUnits: 16})
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, o)
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	f.Close()
	for _, o := range outs {
		<-o.Done()
	}
	// Goroutines exit promptly; allow the runtime a moment to reap them.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// discard is an output that drops everything as fast as it can.
type discard struct{}

func (discard) SetTracks(stream.Tracks)      {}
func (discard) WriteVideo(*stream.VideoUnit) {}
func (discard) WriteAudio(*stream.AudioUnit) {}

func BenchmarkWriteVideo(b *testing.B) {
	for _, n := range []int{1, 3, 5} {
		b.Run(fmt.Sprint(n, "outputs"), func(b *testing.B) {
			f := New(nil)
			defer f.Close()
			for i := range n {
				if _, err := f.Add(fmt.Sprint(i), discard{}, QueueLimits{}); err != nil {
					b.Fatal(err)
				}
			}
			f.SetTracks(stream.Tracks{})
			units := gop(0, 60, 4000)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				f.WriteVideo(units[i%len(units)])
			}
		})
	}
}

func BenchmarkQueuePushNext(b *testing.B) {
	q := NewQueue(QueueLimits{})
	q.SetTracks(stream.Tracks{})
	ctx := context.Background()
	if _, err := q.Next(ctx); err != nil {
		b.Fatal(err)
	}
	u := &stream.VideoUnit{Key: true, NALUs: [][]byte{make([]byte, 4000)}}
	b.ReportAllocs()
	for b.Loop() {
		q.WriteVideo(u)
		if _, err := q.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
