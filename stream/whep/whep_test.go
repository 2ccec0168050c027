package whep_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/streamtest"
	"github.com/cunbo/cunbo/stream/whep"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// client is a real WebRTC receiver (pion) that reassembles H.264 access
// units from RTP and records the NAL types of each and when it completed.
type client struct {
	pc       *webrtc.PeerConnection
	location string

	mu    sync.Mutex
	units [][]byte // NAL types per access unit
	at    []time.Time
	ts    []uint32
}

func newClient(t *testing.T) *client {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	c := &client{pc: pc}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		var depack codecs.H264Packet
		var au []byte
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			c.add(&depack, &au, p)
		}
	})
	return c
}

func (c *client) add(depack *codecs.H264Packet, au *[]byte, p *rtp.Packet) {
	out, err := depack.Unmarshal(p.Payload)
	if err != nil {
		return
	}
	*au = append(*au, out...)
	if !p.Marker {
		return
	}
	var types []byte
	for _, n := range splitAnnexB(*au) {
		types = append(types, n[0]&0x1f)
	}
	*au = (*au)[:0]
	c.mu.Lock()
	c.units = append(c.units, types)
	c.at = append(c.at, time.Now())
	c.ts = append(c.ts, p.Timestamp)
	c.mu.Unlock()
}

func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(b, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00")
		if len(part) > 0 {
			out = append(out, part)
		}
	}
	return out
}

func (c *client) snapshot() ([][]byte, []time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.units), slices.Clone(c.at)
}

// connect negotiates over HTTP like a browser would.
func (c *client) connect(t *testing.T, url string) {
	t.Helper()
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	resp, err := http.Post(url, "application/sdp", strings.NewReader(c.pc.LocalDescription().SDP))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST offer: %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Fatalf("answer content type %q", ct)
	}
	c.location = resp.Header.Get("Location")
	if !strings.HasPrefix(c.location, "/whep/") {
		t.Fatalf("Location %q", c.location)
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatal(err)
	}
}

func newServer(t *testing.T, cfg whep.Config) (*whep.Server, *httptest.Server) {
	t.Helper()
	cfg.IncludeLoopback = true
	s, err := whep.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	mux := http.NewServeMux()
	mux.Handle("/whep", s)
	mux.Handle("/whep/", s)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return s, hs
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

// Two viewers join a real encoded stream mid-GOP: each starts at a
// keyframe that carries SPS+PPS, keeps receiving, and a DELETE hangs one
// up while the other keeps playing.
func TestViewersJoinAtKeyframeWithParameterSets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, hs := newServer(t, whep.Config{})
	streamtest.Start(ctx, t, srv, streamtest.Options{Width: 320, Height: 240, FPS: 25, GOP: time.Second, VideoKbps: 400})
	time.Sleep(300 * time.Millisecond) // join mid-GOP

	a, b := newClient(t), newClient(t)
	a.connect(t, hs.URL+"/whep")
	b.connect(t, hs.URL+"/whep")
	if n := srv.Stats().Viewers; n != 2 {
		t.Fatalf("viewers = %d, want 2", n)
	}
	for _, c := range []*client{a, b} {
		waitFor(t, 15*time.Second, "50 access units", func() bool { u, _ := c.snapshot(); return len(u) >= 50 })
		units, _ := c.snapshot()
		first := units[0]
		if !slices.Contains(first, 7) || !slices.Contains(first, 8) || !slices.Contains(first, 5) {
			t.Fatalf("first access unit NAL types %v, want SPS(7), PPS(8), IDR(5)", first)
		}
		for i, u := range units {
			if slices.Contains(u, 5) && !slices.Contains(u, 7) {
				t.Fatalf("IDR at unit %d without SPS: %v", i, u)
			}
		}
		keys := 0
		for _, u := range units {
			if slices.Contains(u, 5) {
				keys++
			}
		}
		if keys < 2 {
			t.Fatalf("%d keyframes in %d units; GOP is 1 s", keys, len(units))
		}
	}

	req, _ := http.NewRequest(http.MethodDelete, hs.URL+a.location, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	if n := srv.Stats().Viewers; n != 1 {
		t.Fatalf("viewers after hang-up = %d, want 1", n)
	}
	ub, _ := b.snapshot()
	waitFor(t, 10*time.Second, "the other viewer to keep receiving", func() bool {
		u, _ := b.snapshot()
		return len(u) >= len(ub)+25
	})
	// Deleting again is a clean 404.
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("second DELETE: %s, want 404", resp.Status)
	}
}

// The box's side of latency: from the sink call to the access unit fully
// arriving at a viewer over loopback. Glass-to-glass adds capture, encode
// and the phone's jitter buffer; this part must stay a small fraction of
// the 500 ms budget.
func TestSinkToViewerLatency(t *testing.T) {
	srv, hs := newServer(t, whep.Config{})
	tracks, units := syntheticStream(t)
	srv.SetTracks(tracks)
	c := newClient(t)
	c.connect(t, hs.URL+"/whep")
	waitFor(t, 10*time.Second, "connected", func() bool {
		return c.pc.ConnectionState() == webrtc.PeerConnectionStateConnected && srv.Stats().Connected == 1
	})
	var sentAt []time.Time
	for i := range 3 * len(units) {
		u := units[i%len(units)]
		sentAt = append(sentAt, time.Now())
		srv.WriteVideo(&stream.VideoUnit{PTS: time.Duration(i) * 40 * time.Millisecond, NALUs: u.NALUs, Key: u.Key})
		time.Sleep(40 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, "all units", func() bool { u, _ := c.snapshot(); return len(u) >= len(sentAt)-1 })
	_, at := c.snapshot()
	// The first unit the viewer gets is the first (key) unit sent.
	var lat []time.Duration
	for i := range at {
		lat = append(lat, at[i].Sub(sentAt[i]))
	}
	slices.Sort(lat)
	med := lat[len(lat)/2]
	t.Logf("sink→viewer latency over loopback: median %v, max %v (%d units)", med, lat[len(lat)-1], len(lat))
	if med > 100*time.Millisecond {
		t.Fatalf("median sink→viewer latency %v, want well under the 500 ms budget", med)
	}
}

// syntheticStream takes one real GOP from ffmpeg for repeated playback.
func syntheticStream(t *testing.T) (stream.Tracks, []*stream.VideoUnit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rec streamtest.Recorder
	if _, err := streamtest.Run(ctx, t, &rec, streamtest.Options{Width: 320, Height: 240, FPS: 25, GOP: time.Second,
		Duration: 1200 * time.Millisecond, NoPace: true}); err != nil {
		t.Fatal(err)
	}
	tr := rec.Tracks()
	vs := rec.Video()
	if len(tr) == 0 || len(vs) < 25 || !vs[0].Key {
		t.Fatalf("fixture: %d tracks, %d units", len(tr), len(vs))
	}
	return tr[len(tr)-1], vs[:25]
}

func TestHTTPErrors(t *testing.T) {
	srv, hs := newServer(t, whep.Config{MaxViewers: 1})
	cases := []struct {
		name, method, ctype, body string
		want                      int
	}{
		{"wrong content type", http.MethodPost, "text/plain", "v=0", http.StatusUnsupportedMediaType},
		{"not SDP", http.MethodPost, "application/sdp", "hello", http.StatusBadRequest},
		{"audio only", http.MethodPost, "application/sdp", "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", http.StatusBadRequest},
		{"garbled video offer", http.MethodPost, "application/sdp", "v=0\r\nm=video x\r\n", http.StatusBadRequest},
		{"GET", http.MethodGet, "", "", http.StatusMethodNotAllowed},
		{"DELETE unknown", http.MethodDelete, "", "", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, hs.URL+"/whep", strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s: %s, want %d", tc.name, resp.Status, tc.want)
			}
		})
	}
	if n := srv.Stats().Viewers; n != 0 {
		t.Fatalf("failed offers left %d viewers", n)
	}
	newClient(t).connect(t, hs.URL+"/whep")
	// A second viewer over the limit is refused with 503.
	c := newClient(t)
	offer, _ := c.pc.CreateOffer(nil)
	g := webrtc.GatheringCompletePromise(c.pc)
	_ = c.pc.SetLocalDescription(offer)
	<-g
	resp, err := http.Post(hs.URL+"/whep", "application/sdp", strings.NewReader(c.pc.LocalDescription().SDP))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("viewer over the limit: %s, want 503", resp.Status)
	}
	_ = srv.Close()
	if _, _, err := srv.Offer(context.Background(), c.pc.LocalDescription().SDP); !errors.Is(err, whep.ErrClosed) {
		t.Fatalf("offer after Close: %v, want ErrClosed", err)
	}
}

// An offer calls OnOffer before it is answered (the pipeline resumes its
// paused encoder there) and Viewers counts the session until hang-up; a
// viewer that joined while no media flowed starts at the first keyframe.
func TestOnOfferAndViewers(t *testing.T) {
	var offers atomic.Int64
	srv, hs := newServer(t, whep.Config{OnOffer: func() { offers.Add(1) }})
	tracks, units := syntheticStream(t)
	srv.SetTracks(tracks) // known from before the encoder paused
	if srv.Viewers() != 0 {
		t.Fatalf("Viewers = %d before any offer", srv.Viewers())
	}
	c := newClient(t)
	c.connect(t, hs.URL+"/whep")
	if n := offers.Load(); n != 1 {
		t.Fatalf("OnOffer called %d times, want 1", n)
	}
	if n := srv.Viewers(); n != 1 {
		t.Fatalf("Viewers = %d, want 1", n)
	}
	waitFor(t, 10*time.Second, "connected", func() bool { return srv.Stats().Connected == 1 })
	// The encoder wakes up: a non-key unit first, then a GOP.
	srv.WriteVideo(&stream.VideoUnit{PTS: 0, NALUs: units[1].NALUs})
	for i, u := range units {
		srv.WriteVideo(&stream.VideoUnit{PTS: time.Duration(i+1) * 40 * time.Millisecond, NALUs: u.NALUs, Key: u.Key})
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, "the GOP", func() bool { u, _ := c.snapshot(); return len(u) >= len(units)-1 })
	if got, _ := c.snapshot(); !slices.Contains(got[0], 5) {
		t.Errorf("first unit NAL types %v, want an IDR", got[0])
	}
	req, _ := http.NewRequest(http.MethodDelete, hs.URL+c.location, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := srv.Viewers(); n != 0 {
		t.Errorf("Viewers = %d after hang-up, want 0", n)
	}
}
