package preview

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/fanout"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/cunbo/cunbo/stream/streamtest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startServer(t *testing.T) (*Server, string) {
	t.Helper()
	addr := freeAddr(t)
	s := New(Config{Addr: addr})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, "rtsp://" + addr + "/live"
}

func TestNotFoundBeforeTracksAndOnWrongPath(t *testing.T) {
	_, url := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, u := range []string{url, url + "x"} {
		if _, err := rtmptest.ProbeContext(ctx, u, false, "-rtsp_transport", "tcp"); err == nil {
			t.Errorf("%s: ffprobe succeeded without a stream", u)
		}
	}
}

// TestFFprobeReadsPreview: two ffprobe readers join a running stream
// mid-GOP and see H.264 + AAC of the right size, starting at a keyframe.
func TestFFprobeReadsPreview(t *testing.T) {
	s, url := startServer(t)
	fan := fanout.New(nil)
	defer fan.Close()
	if _, err := fan.Add("preview", s, fanout.QueueLimits{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src := streamtest.Start(ctx, t, fan, streamtest.Options{Width: 640, Height: 360, FPS: 30, VideoKbps: 600, GOP: 2 * time.Second})
	defer src.Stop()
	time.Sleep(2500 * time.Millisecond) // mid-GOP

	var wg sync.WaitGroup
	results := make([]*rtmptest.ProbeResult, 2)
	errs := make([]error, 2)
	for i := range results {
		wg.Go(func() {
			results[i], errs[i] = rtmptest.ProbeContext(ctx, url, true,
				"-rtsp_transport", "tcp", "-read_intervals", "%+4")
		})
	}
	wg.Wait()
	for i, r := range results {
		t.Run(fmt.Sprint("reader", i), func(t *testing.T) {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			v, a := r.Video(), r.Audio()
			if v == nil || a == nil {
				t.Fatalf("streams %+v, want video and audio", r.Streams)
			}
			if v.CodecName != "h264" || v.Width != 640 || v.Height != 360 {
				t.Errorf("video %+v", *v)
			}
			if a.CodecName != "aac" || a.SampleRate != 48000 || a.Channels != 2 {
				t.Errorf("audio %+v", *a)
			}
			vp := r.PacketsOf(v.Index)
			if len(vp) < 30 {
				t.Fatalf("only %d video packets", len(vp))
			}
			if !vp[0].Key {
				t.Errorf("first video packet is not a keyframe: %+v", vp[0])
			}
			if err := r.CheckMonotonic(v.Index); err != nil {
				t.Error(err)
			}
		})
	}
	if n := s.Readers(); n > 2 {
		t.Errorf("%d reader sessions left", n)
	}
}

// OnReader hears every DESCRIBE of the stream's path (a paused pipeline
// wakes its encoder there), and none of a wrong path.
func TestOnReaderOnDescribe(t *testing.T) {
	addr := freeAddr(t)
	var mu sync.Mutex
	calls := 0
	s := New(Config{Addr: addr, OnReader: func() { mu.Lock(); calls++; mu.Unlock() }})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "rtsp://" + addr + "/live"
	for _, u := range []string{url, url + "x"} {
		// No tracks yet: both fail, but the right path was asked for.
		_, _ = rtmptest.ProbeContext(ctx, u, false, "-rtsp_transport", "tcp")
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("OnReader called %d times, want 1 (the stream's path only)", calls)
	}
}
