package rtmp

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/handshake"

	"github.com/cunbo/cunbo/internal/sharedtest"
	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/fanout"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/cunbo/cunbo/stream/streamtest"
)

// testTracks are real x264 (320×240 baseline) and AAC-LC parameters.
func testTracks(t testing.TB) stream.Tracks {
	sps, _ := hex.DecodeString("6742c00dd90141fb0110000003001000000303c0f142a480")
	pps, _ := hex.DecodeString("68cb83cb20")
	return stream.Tracks{Width: 320, Height: 240, FPS: 30, SPS: sps, PPS: pps,
		AudioConfig: []byte{0x12, 0x10}, SampleRate: 44100, Channels: 2}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, wantApp, wantKey, wantSafe string
		wantErr                        bool
	}{
		{"rtmp://push.example.com/live/abc123", "/live", "abc123", "rtmp://push.example.com/live/****", false},
		{"rtmps://h:443/third/stream-9?expire=1&sign=x", "/third", "stream-9?expire=1&sign=x", "rtmps://h:443/third/****", false},
		{"rtmp://h/app/a/b", "/app", "a/b", "rtmp://h/app/****", false},
		{"http://h/live/x", "", "", "", true},
		{"rtmp:///live/x", "", "", "", true},
		{"rtmp://h/live", "", "", "", true},
		{"rtmp://h/live/", "", "", "", true},
		{"rtmp://h/%zz", "", "", "", true},
	}
	for _, tt := range tests {
		got, err := parseTarget(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v", tt.in, err)
			continue
		}
		if err != nil {
			continue
		}
		if got.lib.Path != tt.wantApp || got.lib.Fragment != tt.wantKey || got.safe != tt.wantSafe {
			t.Errorf("%s: app %q key %q safe %q", tt.in, got.lib.Path, got.lib.Fragment, got.safe)
		}
		if strings.Contains(got.safe, "abc123") {
			t.Errorf("%s: key leaked into %q", tt.in, got.safe)
		}
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	if _, err := New(Config{URL: "udp://x/y/z"}); err == nil {
		t.Error("accepted udp URL")
	}
}

func TestInvalidTracksStayOffline(t *testing.T) {
	p, err := New(Config{URL: "rtmp://127.0.0.1:1/live/x"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	p.SetTracks(stream.Tracks{SPS: []byte{0x67, 1, 2, 3, 4}, PPS: []byte{0x68}})
	waitFor(t, 5*time.Second, func() bool { return p.Stats().LastError != nil })
	if s := p.Stats(); !strings.Contains(s.LastError.Error(), "SPS") || s.Connects != 0 {
		t.Errorf("stats %+v, want SPS error and no connection", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if err := p.Run(context.Background()); err == nil {
		t.Error("second Run accepted")
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startPublisher runs p until the test ends (or stop is called).
func startPublisher(t *testing.T, p *Publisher) (stop func()) {
	return sharedtest.Run(t, "Run", 10*time.Second, p.Run).Stop
}

// TestPushToNginx: streamtest → fan-out → RTMP → nginx, checked by ffprobe
// on nginx's recording.
func TestPushToNginx(t *testing.T) {
	srv := rtmptest.New(t)
	p, err := New(Config{URL: srv.URL("push"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	stop := startPublisher(t, p)
	fan := fanout.New(nil)
	defer fan.Close()
	if _, err := fan.Add("rtmp", p, fanout.QueueLimits{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const dur = 10 * time.Second
	res, err := streamtest.Run(ctx, t, fan, streamtest.Options{Duration: dur, Width: 640, Height: 360, FPS: 30, VideoKbps: 800})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return p.Stats().BacklogUnits == 0 })
	st := p.Stats()
	if !st.Connected || st.Connects != 1 || st.BytesSent < 500_000 || st.Bitrate <= 0 {
		t.Errorf("stats after push: %+v", st)
	}
	t.Logf("sent %d bytes, bitrate %d bit/s, %d video %d audio units", st.BytesSent, st.Bitrate, res.VideoUnits, res.AudioUnits)
	stop()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	r, err := rtmptest.Probe(srv.RecordingPath("push"))
	if err != nil {
		t.Fatalf("%v\n%s", err, srv.ErrorLog())
	}
	v, a := r.Video(), r.Audio()
	if v == nil || a == nil {
		t.Fatalf("recording streams %+v, want video and audio", r.Streams)
	}
	if v.CodecName != "h264" || v.Width != 640 || v.Height != 360 {
		t.Errorf("video %+v, want h264 640x360", *v)
	}
	if v.FrameRate < 29 || v.FrameRate > 31 {
		t.Errorf("frame rate %.2f, want 30", v.FrameRate)
	}
	if a.CodecName != "aac" || a.SampleRate != 48000 || a.Channels != 2 {
		t.Errorf("audio %+v, want aac 48 kHz stereo", *a)
	}
	if d := r.Duration - dur; d < -500*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("duration %v, want %v ± 0.5 s", r.Duration, dur)
	}
	for _, s := range []*rtmptest.ProbeStream{v, a} {
		if err := r.CheckMonotonic(s.Index); err != nil {
			t.Error(err)
		}
	}
	vp := r.PacketsOf(v.Index)
	if len(vp) < res.VideoUnits-2 || !vp[0].Key || vp[0].DTS > 50*time.Millisecond {
		t.Errorf("%d video packets (sent %d), first %+v: want all, starting with a keyframe at 0", len(vp), res.VideoUnits, vp[0])
	}
}

// TestReconnectAfterNginxRestart kills the ingest server mid-stream and
// brings it back on the same port.
func TestReconnectAfterNginxRestart(t *testing.T) {
	srv := rtmptest.New(t)
	p, err := New(Config{URL: srv.URL("again"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	stop := startPublisher(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src := streamtest.Start(ctx, t, p, streamtest.Options{Width: 320, Height: 240, FPS: 30, VideoKbps: 400, GOP: time.Second})
	waitFor(t, 15*time.Second, func() bool { return p.Stats().BytesSent > 100_000 })

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { s := p.Stats(); return !s.Connected && s.LastError != nil })
	t.Logf("noticed: %v", p.Stats().LastError)
	time.Sleep(1500 * time.Millisecond) // down for a while: several refused retries

	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	waitFor(t, 10*time.Second, func() bool { s := p.Stats(); return s.Connected && s.Reconnects == 1 })
	took := time.Since(back)
	t.Logf("reconnected %v after nginx came back", took)
	if took > 2*time.Second {
		t.Errorf("reconnect took %v, want about 1 s", took)
	}
	sentAt := p.Stats().BytesSent
	time.Sleep(3 * time.Second)
	if _, err := src.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return p.Stats().BacklogUnits == 0 })
	if p.Stats().BytesSent <= sentAt {
		t.Fatal("nothing sent after reconnecting")
	}
	stop()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	r, err := rtmptest.Probe(srv.RecordingPath("again"))
	if err != nil {
		t.Fatal(err)
	}
	v := r.Video()
	if v == nil || r.Audio() == nil || v.Width != 320 || v.Height != 240 {
		t.Fatalf("new recording streams %+v", r.Streams)
	}
	if r.Duration < 2500*time.Millisecond {
		t.Errorf("new recording lasts %v, want ≥ 2.5 s", r.Duration)
	}
	vp := r.PacketsOf(v.Index)
	if !vp[0].Key || vp[0].DTS > 50*time.Millisecond {
		t.Errorf("new recording starts with %+v, want a keyframe at 0", vp[0])
	}
	if err := r.CheckMonotonic(v.Index); err != nil {
		t.Error(err)
	}
}

// TestGarbageServers: servers that answer junk, hang up or fall silent at
// each step of the handshake and connect, or refuse the publish, each give
// a clear error and retries, and leave no goroutine behind.
func TestGarbageServers(t *testing.T) {
	readC0C1 := func(c net.Conn) bool {
		_, err := io.ReadFull(c, make([]byte, 1+1536))
		return err == nil
	}
	s0s1 := append([]byte{3}, make([]byte, 1536)...)
	// serve plays one misbehaving server on c; quiet blocks until the
	// subtest is over (a server that keeps the connection open but says
	// nothing more). wantErr is a regexp: a hang-up reads as EOF, or as a
	// reset or broken pipe when it races the publisher's next write.
	tests := []struct {
		name    string
		serve   func(c net.Conn, quiet func())
		wantErr string
	}{
		{"junk", func(c net.Conn, quiet func()) {
			c.Write([]byte(strings.Repeat("HTTP/1.1 400 Bad Request\r\n\r\n", 200)))
			quiet()
		}, "invalid rtmp version"},
		{"hang up", func(c net.Conn, quiet func()) {}, "EOF|reset|broken pipe"},
		{"silent", func(c net.Conn, quiet func()) { quiet() }, "no answer within 300ms"},
		{"hang up after C0C1", func(c net.Conn, quiet func()) { readC0C1(c) }, "EOF|reset|broken pipe"},
		{"silent after C0C1", func(c net.Conn, quiet func()) {
			readC0C1(c)
			quiet()
		}, "no answer within 300ms"},
		{"silent after S0S1", func(c net.Conn, quiet func()) {
			if readC0C1(c) {
				c.Write(s0s1)
				quiet()
			}
		}, "no answer within 300ms"},
		{"wrong version after C0C1", func(c net.Conn, quiet func()) {
			if readC0C1(c) {
				c.Write(append([]byte{6}, make([]byte, 2*1536)...))
				quiet()
			}
		}, "unexpected version 6"},
		{"hang up after handshake", func(c net.Conn, quiet func()) {
			handshake.DoServer(c, false)
		}, "EOF|reset|broken pipe"},
		{"junk after handshake", func(c net.Conn, quiet func()) {
			if _, _, err := handshake.DoServer(c, false); err == nil {
				c.Write(bytes.Repeat([]byte{0xc3, 0xff, 0x00, 0x17}, 1024))
				quiet()
			}
		}, "chunk"},
		{"publish refused", func(c net.Conn, quiet func()) {
			sc := &gortmplib.ServerConn{RW: c}
			if sc.Initialize() == nil && sc.AcceptConn() == nil {
				sc.RejectAction()
				quiet()
			}
		}, "NetStream.Publish.Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var accepted atomic.Int32
			var wg sync.WaitGroup
			over := make(chan struct{})
			quiet := func() { <-over }
			wg.Go(func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					accepted.Add(1)
					wg.Go(func() { defer c.Close(); tt.serve(c, quiet) })
				}
			})
			p, err := New(Config{URL: "rtmp://" + l.Addr().String() + "/live/secretkey",
				ConnectTimeout: 300 * time.Millisecond, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			stop := startPublisher(t, p)
			p.SetTracks(testTracks(t))
			waitFor(t, 10*time.Second, func() bool { return accepted.Load() >= 2 && p.Stats().LastError != nil })
			s := p.Stats()
			if s.Connected || s.Connects != 0 || !regexp.MustCompile(tt.wantErr).MatchString(s.LastError.Error()) {
				t.Errorf("stats %+v, want error matching %q", s, tt.wantErr)
			}
			if strings.Contains(s.LastError.Error(), "secretkey") {
				t.Errorf("stream key leaked in error: %v", s.LastError)
			}
			if !strings.Contains(s.LastError.Error(), "rtmp: connect rtmp://127.0.0.1:") {
				t.Errorf("error %q does not say which step and server", s.LastError)
			}
			t.Logf("error: %v", s.LastError)
			stop()
			l.Close()
			close(over)
			wg.Wait()
			waitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before })
		})
	}
}

func TestStopWhileServerSilentIsPrompt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	p, err := New(Config{URL: "rtmp://" + l.Addr().String() + "/live/k", ConnectTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	p.SetTracks(testTracks(t))
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run hung while connecting")
	}
	t.Logf("stopped in %v", time.Since(start))
}
