package rtmp

import (
	"context"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/cunbo/cunbo/stream/streamtest"
)

// TestSocketSignals: while publishing, Stats carries the kernel's view of
// the link that bitrate adaptation reads.
func TestSocketSignals(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("TCP_INFO is Linux-only")
	}
	srv := rtmptest.New(t)
	p, err := New(Config{URL: srv.URL("sock")})
	if err != nil {
		t.Fatal(err)
	}
	stop := startPublisher(t, p)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	streamtest.Start(ctx, t, p, streamtest.Options{Width: 320, Height: 240, VideoKbps: 600})
	var got Stats
	waitFor(t, 15*time.Second, func() bool {
		got = p.Stats()
		return got.Connected && got.AckedBitrate > 100_000 && got.RTT > 0
	})
	t.Logf("acked %d bit/s, rtt %v, pending %d B", got.AckedBitrate, got.RTT, got.SocketPending)
}

// TestKickRetriesAtOnce: a publisher deep in backoff retries as soon as it
// is kicked, and its first retry after a failure is immediate.
func TestKickRetriesAtOnce(t *testing.T) {
	var dials atomic.Int32
	var times [16]atomic.Int64
	p, err := New(Config{
		URL: "rtmp://127.0.0.1:1/live/x", BackoffMin: 4 * time.Second, BackoffMax: 5 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			n := dials.Add(1)
			if int(n) <= len(times) {
				times[n-1].Store(time.Now().UnixNano())
			}
			return nil, &net.OpError{Op: "dial", Net: network, Err: errRefused}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := startPublisher(t, p)
	defer stop()
	p.SetTracks(validTracks(t))
	waitFor(t, 5*time.Second, func() bool { return dials.Load() >= 2 })
	if gap := time.Duration(times[1].Load() - times[0].Load()); gap > 500*time.Millisecond {
		t.Errorf("second attempt %v after the first, want at once", gap)
	}
	// Now in a ≥ 2 s wait (third attempt).
	time.Sleep(200 * time.Millisecond)
	n := dials.Load()
	kicked := time.Now()
	p.Kick()
	waitFor(t, time.Second, func() bool { return dials.Load() > n })
	t.Logf("retried %v after the kick", time.Since(kicked).Round(time.Millisecond))
}

var errRefused = &net.AddrError{Err: "connection refused (test)"}

func validTracks(t *testing.T) stream.Tracks {
	t.Helper()
	rec := &streamtest.Recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := streamtest.Run(ctx, t, rec, streamtest.Options{Duration: 200 * time.Millisecond, NoPace: true, Width: 160, Height: 120})
	if err != nil {
		t.Fatal(err)
	}
	return res.Tracks
}
