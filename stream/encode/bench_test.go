package encode

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/stream/streamtest"
)

// BenchmarkEncoderFeed720p measures the Go side of one 720p tick: copying a
// new picture in, building the tick's audio and handing both to an
// instance whose pipe writer discards them.
func BenchmarkEncoderFeed720p(b *testing.B) {
	vf := hw.VideoFormat{Width: 1280, Height: 720, FPS: 30}
	e, err := New(Config{Input: vf, Logger: quietLogger()}, &streamtest.Recorder{})
	if err != nil {
		b.Fatal(err)
	}
	in := &instance{video: make(chan *rawFrame, instanceQueue), audio: make(chan []byte, instanceQueue)}
	done := make(chan struct{})
	go func() {
		for f := range in.video {
			io.Discard.Write(f.data)
			f.release()
		}
		close(done)
	}()
	go func() {
		for range in.audio {
		}
	}()
	f := hw.NewFrame(vf.Width, vf.Height)
	pcm := make([]int16, 1600)
	b.SetBytes(int64(vf.FrameSize()))
	b.ReportAllocs()
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		if err := e.WriteFrame(f); err != nil {
			b.Fatal(err)
		}
		e.WriteAudio(pcm)
		frame, audio := e.tickInputs(int64(k))
		for !in.feed(frame, audio) {
			time.Sleep(time.Microsecond) // consumer behind: retry, as a real pipe would block
		}
		frame.release()
	}
	b.StopTimer()
	in.stop2()
	<-done
}

// stop2 closes the queues of a bench instance that has no process.
func (in *instance) stop2() {
	close(in.video)
	close(in.audio)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEncoderPipeline720p30 runs the real pipeline (test pattern and
// tone → encoder → real ffmpeg → demux → sink) for 3 s per iteration and
// reports the Go process's CPU as a percentage of one core (ffmpeg, a
// child, is not included). Target: ≤ 10.
func BenchmarkEncoderPipeline720p30(b *testing.B) {
	vf := hw.VideoFormat{Width: 1280, Height: 720, FPS: 30}
	var cpu, wall time.Duration
	for range b.N {
		rec := &streamtest.Recorder{}
		e, err := New(Config{Input: vf, Codec: CodecX264, Logger: quietLogger()}, rec)
		if err != nil {
			b.Fatal(err)
		}
		src, err := hw.NewTestPattern(hw.TestPatternConfig{Format: vf})
		if err != nil {
			b.Fatal(err)
		}
		tone, _ := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}})
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		go e.FeedVideo(ctx, src)
		go e.FeedAudio(ctx, tone)
		runDone := make(chan error, 1)
		go func() { runDone <- e.Run(ctx) }()
		// Measure steady state: skip ffmpeg's start-up second.
		time.Sleep(time.Second)
		c0, w0 := cpuTime(), time.Now()
		<-ctx.Done()
		cpu += cpuTime() - c0
		wall += time.Since(w0)
		cancel()
		<-runDone
		src.Close()
		if len(rec.Video()) < 60 {
			b.Fatalf("only %d video units", len(rec.Video()))
		}
	}
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu%")
}
