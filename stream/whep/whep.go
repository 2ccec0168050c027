// Package whep is the box's low-latency local preview: a stream.Sink that
// serves the encoded H.264 to WebRTC viewers negotiated WHEP-style (an HTTP
// POST carrying an SDP offer is answered by 201 + SDP answer + Location; a
// DELETE on that Location hangs up).
//
// The preview is video only: the streamer watches herself on her phone next
// to the box, where sound from the phone would only echo into the mic. Each
// viewer gets its own track so it joins at the next keyframe without
// disturbing the others, and its own bounded queue so a slow phone drops
// pictures rather than slow the encoder.
//
// Offers are answered with every ICE candidate already gathered (no
// trickle): on the LAN only host candidates are needed, which gather in
// milliseconds, and no STUN server is contacted unless configured.
package whep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/stream"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Config shapes the preview server. The zero value serves up to four
// viewers on the LAN with host candidates only.
type Config struct {
	// MaxViewers bounds concurrent sessions (each costs an SRTP stream
	// and a goroutine). Default 4.
	MaxViewers int
	// ICEServers are STUN/TURN URLs ("stun:host:port"); empty on the LAN.
	ICEServers []string
	// IncludeLoopback offers 127.0.0.1 candidates too: for a browser on
	// the same machine (the simulator, tests).
	IncludeLoopback bool
	// UDPPortMin/Max restrict the media ports (for a firewall); 0 = any.
	UDPPortMin, UDPPortMax uint16
	// GatherTimeout bounds ICE gathering before answering. Default 5 s.
	GatherTimeout time.Duration
	// QueueUnits is each viewer's queue in access units; when full the
	// viewer skips to the next keyframe. Default 60 (2 s at 30 fps).
	QueueUnits int
	// Logger; nil discards.
	Logger *slog.Logger
	// OnOffer, when set, is called as each offer arrives, before the
	// answer is built: a paused pipeline starts its encoder for the viewer.
	OnOffer func()
}

// Errors returned by Offer.
var (
	ErrTooManyViewers = errors.New("whep: too many viewers")
	ErrNoVideo        = errors.New("whep: offer has no video to receive")
	ErrClosed         = errors.New("whep: server closed")
)

// Stats are counters for the preview.
type Stats struct {
	// Viewers counts sessions; Connected those with media flowing (ICE
	// and DTLS up).
	Viewers, Connected int
	// Sent counts access units written to viewers' tracks; Dropped those
	// skipped because a viewer's queue was full or it waited for a key.
	Sent, Dropped uint64
}

// Server is the preview output. Create it with New; feed it as a
// stream.Sink; mount it (or call Offer/Hangup) for viewers.
type Server struct {
	cfg Config
	log *slog.Logger
	api *webrtc.API

	mu      sync.Mutex
	tracks  *stream.Tracks
	viewers map[string]*viewer
	closed  bool

	sent, dropped atomic.Uint64
}

// New builds a server. It contacts nothing until the first offer.
func New(cfg Config) (*Server, error) {
	if cfg.MaxViewers <= 0 {
		cfg.MaxViewers = 4
	}
	if cfg.GatherTimeout <= 0 {
		cfg.GatherTimeout = 5 * time.Second
	}
	if cfg.QueueUnits <= 0 {
		cfg.QueueUnits = 60
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	me := &webrtc.MediaEngine{}
	// Constrained Baseline with packetization-mode 1: what the box's
	// encoders produce (no B-frames, no CABAC) and what every phone decodes.
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: h264Capability,
		PayloadType:        102,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("whep: register H.264: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("whep: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	if cfg.UDPPortMin != 0 || cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("whep: udp port range: %w", err)
		}
	}
	// Phones on the LAN; TCP candidates only add gathering time.
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return &Server{cfg: cfg, log: log, api: api, viewers: map[string]*viewer{}}, nil
}

var h264Capability = webrtc.RTPCodecCapability{
	MimeType:    webrtc.MimeTypeH264,
	ClockRate:   90000,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	RTCPFeedback: []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}, {Type: "goog-remb"},
	},
}

// SetTracks implements stream.Sink.
func (s *Server) SetTracks(t stream.Tracks) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tc := t
	tc.SPS = append([]byte(nil), t.SPS...)
	tc.PPS = append([]byte(nil), t.PPS...)
	s.tracks = &tc
	for _, v := range s.viewers {
		v.setTracks(&tc)
	}
}

// WriteVideo implements stream.Sink. It never blocks.
func (s *Server) WriteVideo(u *stream.VideoUnit) {
	if u == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.viewers {
		if v.offer(u) {
			continue
		}
		s.dropped.Add(1)
	}
}

// SelfQueued marks the server as a fanout.SelfQueued output: its Sink
// methods only hand units to per-viewer queues and never block.
func (s *Server) SelfQueued() {}

// WriteAudio implements stream.Sink: the preview is video only.
func (s *Server) WriteAudio(*stream.AudioUnit) {}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n, c := len(s.viewers), 0
	for _, v := range s.viewers {
		if v.connected.Load() {
			c++
		}
	}
	s.mu.Unlock()
	return Stats{Viewers: n, Connected: c, Sent: s.sent.Load(), Dropped: s.dropped.Load()}
}

// Viewers returns how many sessions are open (connected or not).
func (s *Server) Viewers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.viewers)
}

// Offer answers a viewer's SDP offer. It returns the SDP answer and the
// session id to hang up with.
func (s *Server) Offer(ctx context.Context, offerSDP string) (answer, id string, err error) {
	if !strings.Contains(offerSDP, "m=video") {
		return "", "", ErrNoVideo
	}
	if s.cfg.OnOffer != nil {
		s.cfg.OnOffer()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return "", "", ErrClosed
	}
	if len(s.viewers) >= s.cfg.MaxViewers {
		s.mu.Unlock()
		return "", "", ErrTooManyViewers
	}
	s.mu.Unlock()

	var ice []webrtc.ICEServer
	if len(s.cfg.ICEServers) > 0 {
		ice = []webrtc.ICEServer{{URLs: s.cfg.ICEServers}}
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{ICEServers: ice})
	if err != nil {
		return "", "", fmt.Errorf("whep: peer connection: %w", err)
	}
	fail := func(e error) (string, string, error) {
		_ = pc.Close()
		return "", "", e
	}
	id, err = newID()
	if err != nil {
		return fail(err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(h264Capability, "video", "cunbo-preview")
	if err != nil {
		return fail(fmt.Errorf("whep: track: %w", err))
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return fail(fmt.Errorf("whep: add track: %w", err))
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		return fail(fmt.Errorf("whep: bad offer: %w", err))
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("whep: answer: %w", err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return fail(fmt.Errorf("whep: local description: %w", err))
	}
	gctx, cancel := context.WithTimeout(ctx, s.cfg.GatherTimeout)
	defer cancel()
	select {
	case <-gathered:
	case <-gctx.Done():
		return fail(fmt.Errorf("whep: gathering candidates: %w", gctx.Err()))
	}

	v := newViewer(id, pc, track, s.cfg.QueueUnits, s)
	s.mu.Lock()
	if s.closed || len(s.viewers) >= s.cfg.MaxViewers {
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return fail(ErrClosed)
		}
		return fail(ErrTooManyViewers)
	}
	s.viewers[id] = v
	if s.tracks != nil {
		v.setTracks(s.tracks)
	}
	s.mu.Unlock()

	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("whep viewer", "id", id, "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateConnected:
			// Media written before DTLS is up is lost; the viewer starts at
			// the first keyframe after this.
			v.connected.Store(true)
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go s.Hangup(id)
		}
	})
	// Reading RTCP lets the interceptors answer NACKs; PLIs cannot force
	// a keyframe from a shared encoder, so the viewer waits for the next
	// one (the GOP is 1–2 s).
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	go v.run()
	s.log.Info("whep viewer joined", "id", id)
	return pc.LocalDescription().SDP, id, nil
}

// Hangup ends a session; unknown ids report false.
func (s *Server) Hangup(id string) bool {
	s.mu.Lock()
	v, ok := s.viewers[id]
	delete(s.viewers, id)
	s.mu.Unlock()
	if ok {
		v.stop()
		s.log.Info("whep viewer left", "id", id)
	}
	return ok
}

// Close hangs up every viewer and refuses new ones.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	vs := s.viewers
	s.viewers = map[string]*viewer{}
	s.mu.Unlock()
	for _, v := range vs {
		v.stop()
	}
	return nil
}

// ServeHTTP is the WHEP endpoint: POST to the mount point with an
// application/sdp offer; DELETE mount/{id} to hang up. Mount it with
// http.StripPrefix-free paths: the Location is the request path + "/" + id.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
			http.Error(w, "content type must be application/sdp", http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "reading offer: "+err.Error(), http.StatusBadRequest)
			return
		}
		answer, id, err := s.Offer(r.Context(), string(body))
		switch {
		case errors.Is(err, ErrTooManyViewers):
			http.Error(w, "预览人数已满 (too many viewers)", http.StatusServiceUnavailable)
			return
		case errors.Is(err, ErrClosed):
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/sdp")
		w.Header().Set("Location", strings.TrimSuffix(r.URL.Path, "/")+"/"+id)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answer)
	case http.MethodDelete:
		id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		if !s.Hangup(id) {
			http.Error(w, "no such session", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodOptions:
		w.Header().Set("Allow", "POST, DELETE, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "POST, DELETE, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func newID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("whep: session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// viewer is one session: a queue the sink fills without blocking and a
// goroutine that packetises into the viewer's track.
type viewer struct {
	id    string
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticSample
	srv   *Server

	queue chan *stream.VideoUnit
	done  chan struct{}
	once  sync.Once

	// Guarded by srv.mu (written from the sink side).
	waitKey bool
	tracks  atomic.Pointer[stream.Tracks]
	// connected is set once ICE and DTLS are up.
	connected atomic.Bool
}

func newViewer(id string, pc *webrtc.PeerConnection, track *webrtc.TrackLocalStaticSample, n int, srv *Server) *viewer {
	return &viewer{id: id, pc: pc, track: track, srv: srv, queue: make(chan *stream.VideoUnit, n),
		done: make(chan struct{}), waitKey: true}
}

func (v *viewer) setTracks(t *stream.Tracks) {
	v.tracks.Store(t)
	v.waitKey = true
}

// offer queues u unless the viewer is waiting for a keyframe or full; a
// full queue makes it wait for the next keyframe (a partial GOP would
// only decode to smears). Called with srv.mu held.
func (v *viewer) offer(u *stream.VideoUnit) bool {
	if !v.connected.Load() {
		v.waitKey = true
		return false
	}
	if v.waitKey && !u.Key {
		return false
	}
	select {
	case v.queue <- u:
		v.waitKey = false
		return true
	default:
		v.waitKey = true
		return false
	}
}

func (v *viewer) stop() {
	v.once.Do(func() {
		close(v.done)
		_ = v.pc.Close()
	})
}

func (v *viewer) run() {
	var last time.Duration
	first := true
	var buf []byte
	for {
		select {
		case <-v.done:
			return
		case u := <-v.queue:
			t := v.tracks.Load()
			dur := time.Second / 30
			if t != nil && t.FPS > 0 {
				dur = time.Second / time.Duration(t.FPS)
			}
			if !first && u.PTS > last && u.PTS-last < 5*time.Second {
				dur = u.PTS - last
			}
			first, last = false, u.PTS
			buf = annexB(buf[:0], u, t)
			if err := v.track.WriteSample(media.Sample{Data: buf, Duration: dur}); err != nil {
				if errors.Is(err, io.ErrClosedPipe) {
					return
				}
				v.srv.log.Debug("whep write", "id", v.id, "err", err)
				continue
			}
			v.srv.sent.Add(1)
		}
	}
}

// annexB joins the unit's NALUs with start codes, putting the parameter
// sets in front of an IDR that lacks them so a decoder can start there.
func annexB(dst []byte, u *stream.VideoUnit, t *stream.Tracks) []byte {
	sc := []byte{0, 0, 0, 1}
	if u.Key && t != nil && len(t.SPS) > 0 && len(t.PPS) > 0 && !hasNALType(u.NALUs, 7) {
		dst = append(append(dst, sc...), t.SPS...)
		dst = append(append(dst, sc...), t.PPS...)
	}
	for _, n := range u.NALUs {
		if len(n) == 0 {
			continue
		}
		// Access unit delimiters and SEI carry nothing a preview needs.
		if typ := n[0] & 0x1f; typ == 9 || typ == 6 {
			continue
		}
		dst = append(append(dst, sc...), n...)
	}
	return dst
}

func hasNALType(nalus [][]byte, typ byte) bool {
	for _, n := range nalus {
		if len(n) > 0 && n[0]&0x1f == typ {
			return true
		}
	}
	return false
}
