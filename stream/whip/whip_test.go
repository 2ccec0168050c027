package whip_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/cunbo/cunbo/stream/streamtest"
	"github.com/cunbo/cunbo/stream/whip"
	"github.com/cunbo/cunbo/stream/whip/whiptest"
)

func loopback(se *webrtc.SettingEngine) {
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPublishVideoAndAudio(t *testing.T) {
	srv, err := whiptest.Start(whiptest.Config{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var estimates atomic.Int64
	pub, err := whip.New(whip.Config{
		URL: srv.URL(), Token: "s3cret", SettingEngine: loopback,
		OnTargetBitrate: func(bps int) { estimates.Store(int64(bps)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); _ = pub.Run(ctx) }()
	streamtest.Start(ctx, t, pub, streamtest.Options{Width: 320, Height: 240, VideoKbps: 400})

	waitFor(t, 15*time.Second, "60 frames and 100 audio packets", func() bool {
		st := srv.Stats()
		return st.Frames >= 60 && st.AudioPackets >= 100
	})
	st := srv.Stats()
	if st.KeyFrames < 1 {
		t.Errorf("no keyframe among %d frames", st.Frames)
	}
	ps := pub.Stats()
	if !ps.Connected || ps.Connects != 1 || ps.Resource == "" {
		t.Errorf("publisher stats %+v", ps)
	}
	if estimates.Load() <= 0 || ps.TargetBitrate <= 0 {
		t.Errorf("no congestion-control estimate: callback %d, stats %d", estimates.Load(), ps.TargetBitrate)
	}
	// The first frame must be a keyframe: a viewer joins there.
	if f := srv.Frames(); !f[0].Key {
		t.Errorf("first frame is not a keyframe")
	}
	cancel()
	<-done
	waitFor(t, 3*time.Second, "DELETE of the session", func() bool { return srv.Stats().Deleted == 1 })
	if srv.Active() != 0 {
		t.Errorf("%d sessions still active after stop", srv.Active())
	}
}

func TestRepublishAfterServerDropsSession(t *testing.T) {
	srv, err := whiptest.Start(whiptest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	pub, err := whip.New(whip.Config{
		URL: srv.URL(), SettingEngine: loopback, NoAudio: true,
		ICEDisconnected: 500 * time.Millisecond, ICEFailed: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); _ = pub.Run(ctx) }()
	streamtest.Start(ctx, t, pub, streamtest.Options{Width: 320, Height: 240, VideoKbps: 300, GOP: time.Second})
	waitFor(t, 15*time.Second, "first frames", func() bool { return srv.Stats().Frames >= 10 })

	srv.DropSessions()
	dropped := time.Now()
	waitFor(t, 15*time.Second, "a second session", func() bool { return srv.Stats().Sessions >= 2 })
	before := srv.Stats().Frames
	waitFor(t, 10*time.Second, "frames on the new session", func() bool { return srv.Stats().Frames >= before+10 })
	t.Logf("re-published and flowing %v after the drop", time.Since(dropped).Round(time.Millisecond))
	if r := pub.Stats().Reconnects; r < 1 {
		t.Errorf("Reconnects = %d", r)
	}
	cancel()
	<-done
}

func TestBadServers(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"unauthorised", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "who are you", http.StatusUnauthorized)
		}, "401"},
		{"server error", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "boom", http.StatusServiceUnavailable)
		}, "503"},
		{"garbage SDP", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/sdp")
			w.Header().Set("Location", "/whip/1")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, "v=banana\r\n\x00\xff")
		}, "not usable SDP"},
		{"no Location", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/sdp")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, "v=0\r\n")
		}, "no Location"},
		{"never answers", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		}, "no answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hs := httptest.NewServer(tc.handler)
			defer hs.Close()
			goroutines := runtime.NumGoroutine()
			pub, err := whip.New(whip.Config{
				URL: hs.URL + "/whip", SettingEngine: loopback, NoAudio: true,
				RequestTimeout: 500 * time.Millisecond, BackoffMin: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = pub.Run(ctx) }()
			s := streamtest.Start(ctx, t, pub, streamtest.Options{Width: 160, Height: 120, VideoKbps: 100})
			waitFor(t, 15*time.Second, "an error in Stats", func() bool { return pub.Stats().LastError != nil })
			err = pub.Stats().LastError
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if pub.Stats().Connected {
				t.Error("connected to a broken server")
			}
			cancel()
			<-done
			_, _ = s.Stop()
			hs.CloseClientConnections()
			waitFor(t, 5*time.Second, "goroutines to settle", func() bool {
				return runtime.NumGoroutine() <= goroutines+2
			})
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []whip.Config{
		{},
		{URL: "rtmp://x/y"},
		{URL: "http://"},
		{URL: "http://x/whip", MinBitrate: 2e6, MaxBitrate: 1e6},
	} {
		if _, err := whip.New(c); !errors.Is(err, whip.ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", c, err)
		}
	}
}

// TestRepeatedRepublishDoesNotLeak forces many re-publishes and checks that
// goroutines and file descriptors come back to where they were.
func TestRepeatedRepublishDoesNotLeak(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 20
	}
	srv, err := whiptest.Start(whiptest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	pub, err := whip.New(whip.Config{
		URL: srv.URL(), SettingEngine: loopback, NoAudio: true,
		ICEDisconnected: 300 * time.Millisecond, ICEFailed: 600 * time.Millisecond,
		BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); _ = pub.Run(ctx) }()
	streamtest.Start(ctx, t, pub, streamtest.Options{Width: 160, Height: 120, VideoKbps: 100, GOP: 500 * time.Millisecond})
	waitFor(t, 15*time.Second, "first session", func() bool { return pub.Stats().Connected })
	time.Sleep(300 * time.Millisecond)
	g0, fd0, h0 := runtime.NumGoroutine(), fds(t), heap()
	for i := range n {
		before := pub.Stats().Connects
		srv.DropSessions()
		waitFor(t, 10*time.Second, fmt.Sprintf("re-publish %d", i), func() bool { return pub.Stats().Connects > before })
	}
	time.Sleep(500 * time.Millisecond)
	g1, fd1, h1 := runtime.NumGoroutine(), fds(t), heap()
	t.Logf("%d re-publishes: goroutines %d → %d, fds %d → %d, heap %d → %d KiB", n, g0, g1, fd0, fd1, h0>>10, h1>>10)
	if h1 > h0+32<<20 {
		t.Errorf("heap grew from %d to %d KiB over %d re-publishes", h0>>10, h1>>10, n)
	}
	if g1 > g0+15 {
		t.Errorf("goroutines grew from %d to %d over %d re-publishes", g0, g1, n)
	}
	if fd1 > fd0+10 {
		t.Errorf("file descriptors grew from %d to %d over %d re-publishes", fd0, fd1, n)
	}
	cancel()
	<-done
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func fds(t *testing.T) int {
	e, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}

// TestOfferNegotiatesRecoveryAndCongestionControl: the offer asks for what
// weak links need: NACK, RTX, transport-wide CC, H.264 and Opus, and the
// request carries the bearer token as application/sdp.
func TestOfferNegotiatesRecoveryAndCongestionControl(t *testing.T) {
	offers := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case offers <- r:
			bodies <- string(b)
		default:
		}
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer hs.Close()
	pub, err := whip.New(whip.Config{URL: hs.URL + "/whip", Token: "tok", SettingEngine: loopback})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pub.Run(ctx) }()
	streamtest.Start(ctx, t, pub, streamtest.Options{Width: 160, Height: 120, VideoKbps: 100})
	var r *http.Request
	select {
	case r = <-offers:
	case <-time.After(15 * time.Second):
		t.Fatal("no offer")
	}
	sdp := <-bodies
	cancel()
	<-done
	if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/sdp" {
		t.Errorf("headers %v", r.Header)
	}
	for _, want := range []string{"H264/90000", "opus/48000", "rtx/90000", "nack", "transport-cc", "transport-wide-cc", "a=sendonly"} {
		if !strings.Contains(sdp, want) {
			t.Errorf("offer lacks %q", want)
		}
	}
}
