package record

import (
	"context"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream"
)

// synthUnits makes n seconds-worth-free units at 30 fps with a keyframe
// every second: 6 KB P-frames, 30 KB keyframes (≈1.6 Mbit/s), plus the
// 48 kHz AAC units between them.
func synthUnits(nVideo int) (video []*stream.VideoUnit, audio []*stream.AudioUnit) {
	p := make([]byte, 6000)
	k := make([]byte, 30000)
	p[0], k[0] = 0x41, 0x65
	a := make([]byte, 300)
	frame := time.Second / 30
	aacDur := 1024 * time.Second / 48000
	for i := range nVideo {
		ts := time.Duration(i) * frame
		u := &stream.VideoUnit{PTS: ts, DTS: ts, NALUs: [][]byte{p}, Key: i%30 == 0}
		if u.Key {
			u.NALUs = [][]byte{k}
		}
		video = append(video, u)
	}
	for ts := time.Duration(0); ts < time.Duration(nVideo)*frame; ts += aacDur {
		audio = append(audio, &stream.AudioUnit{PTS: ts, Data: a})
	}
	return video, audio
}

// feed sends units to sink interleaved in timestamp order.
func feed(sink stream.Sink, video []*stream.VideoUnit, audio []*stream.AudioUnit) {
	i, j := 0, 0
	for i < len(video) || j < len(audio) {
		if j >= len(audio) || i < len(video) && video[i].DTS <= audio[j].PTS {
			sink.WriteVideo(video[i])
			i++
		} else {
			sink.WriteAudio(audio[j])
			j++
		}
	}
}

// BenchmarkWriterPerUnit is the writer goroutine's cost per unit (video or
// audio), including fragment marshalling, the append and its fdatasync.
func BenchmarkWriterPerUnit(b *testing.B) {
	rec, err := New(Config{Dir: b.TempDir(), QuotaBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	rec.SetTracks(synthTracks())
	video, audio := synthUnits(b.N)
	w := newWriter(rec)
	sess := rec.sess.Load()
	sess.epochNanos.Store(time.Now().UnixNano())
	vi, ai := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if ai >= len(audio) || vi < len(video) && video[vi].DTS <= audio[ai].PTS {
			w.handle(item{sess: sess, video: video[vi]})
			vi++
		} else {
			w.handle(item{sess: sess, audio: audio[ai]})
			ai++
		}
	}
	w.closeSegment()
	b.StopTimer()
	if st := rec.Stats(); st.WriteErrors != 0 {
		b.Fatalf("stats %+v", st)
	}
}

// BenchmarkSinkWriteVideo is what the encoder pays per unit: the enqueue,
// while the writer runs concurrently.
func BenchmarkSinkWriteVideo(b *testing.B) {
	rec, err := New(Config{Dir: b.TempDir(), QuotaBytes: 1 << 30, QueueUnits: 1 << 12})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- rec.Run(ctx) }()
	rec.SetTracks(synthTracks())
	video, _ := synthUnits(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for _, u := range video {
		rec.WriteVideo(u)
	}
	b.StopTimer()
	cancel()
	<-done
}
