// Package whiptest is a real WHIP endpoint for tests and the weak-link
// bench: a pion/webrtc receiver that answers offers, generates NACKs and
// transport-wide congestion feedback like a browser or media server would,
// and records when each video frame and audio packet arrived.
package whiptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Config configures a Server. The zero value listens on 127.0.0.1 with
// loopback ICE candidates allowed and no token.
type Config struct {
	// Token, if set, must arrive as "Authorization: Bearer <Token>".
	Token string
	// Listener for HTTP; nil listens on 127.0.0.1:0.
	Listener net.Listener
	// ICEConn, if set, carries all ICE traffic (one UDP socket); the bench
	// opens it inside the receiver's network namespace.
	ICEConn net.PacketConn
	// Logger; nil discards.
	Logger *slog.Logger
}

// Frame is one received video frame (all RTP packets of one timestamp).
type Frame struct {
	At    time.Time
	Bytes int
	Key   bool
	// RTPTime is the frame's RTP timestamp (90 kHz) and Session counts
	// the track it came on, so a receiver can tell how far behind live a
	// stream has fallen; timestamps restart with each session.
	RTPTime uint32
	Session int
}

// Stats summarises what arrived.
type Stats struct {
	Sessions     int // POSTs accepted
	Deleted      int // DELETEs honoured
	Frames       int
	KeyFrames    int
	VideoBytes   int64
	AudioPackets int
	AudioBytes   int64
	LastVideo    time.Time
	LastAudio    time.Time
}

// Server is a running WHIP endpoint.
type Server struct {
	cfg  Config
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server
	api  *webrtc.API
	done chan struct{}

	mu       sync.Mutex
	sessions map[string]*webrtc.PeerConnection
	nextID   int
	stats    Stats
	frames   []Frame
	tracks   int // tracks seen, numbering sessions in Frame
	audioAt  []time.Time
	readers  sync.WaitGroup
}

// Start serves until Close.
func Start(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	if cfg.ICEConn != nil {
		se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, cfg.ICEConn))
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	} else {
		se.SetIncludeLoopbackCandidate(true)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	se.SetICETimeouts(2*time.Second, 5*time.Second, 500*time.Millisecond)
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg: cfg, log: log, ln: ln, done: make(chan struct{}),
		api:      webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)),
		sessions: map[string]*webrtc.PeerConnection{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whip", s.post)
	mux.HandleFunc("DELETE /whip/{id}", s.delete)
	mux.HandleFunc("PATCH /whip/{id}", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "trickle ICE not supported", http.StatusMethodNotAllowed)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// URL is the endpoint to POST offers to.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/whip" }

// Close stops the server and every session.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	s.mu.Lock()
	pcs := s.sessions
	s.sessions = map[string]*webrtc.PeerConnection{}
	s.mu.Unlock()
	for _, pc := range pcs {
		_ = pc.Close()
	}
	s.readers.Wait()
	return err
}

// DropSessions closes every peer connection without telling the
// publisher, as a crashed or restarted server would.
func (s *Server) DropSessions() {
	s.mu.Lock()
	pcs := s.sessions
	s.sessions = map[string]*webrtc.PeerConnection{}
	s.mu.Unlock()
	for _, pc := range pcs {
		_ = pc.Close()
	}
}

// Stats returns a snapshot.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Active is the number of live sessions.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Frames returns a copy of every received video frame's arrival.
func (s *Server) Frames() []Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Frame(nil), s.frames...)
}

func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.cfg.Token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		http.Error(w, "want application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	offer, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		s.readers.Add(1)
		go func() {
			defer s.readers.Done()
			s.readTrack(tr)
		}()
	})
	answer, err := s.answer(pc, string(offer))
	if err != nil {
		_ = pc.Close()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.nextID++
	id := strconv.Itoa(s.nextID)
	s.sessions[id] = pc
	s.stats.Sessions++
	s.mu.Unlock()
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed {
			s.mu.Lock()
			delete(s.sessions, id)
			s.mu.Unlock()
			_ = pc.Close()
		}
	})
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whip/"+id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

func (s *Server) answer(pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("offer: %w", err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("answer: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		return "", errors.New("ICE gathering timed out")
	}
	return pc.LocalDescription().SDP, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.cfg.Token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	pc, ok := s.sessions[id]
	delete(s.sessions, id)
	if ok {
		s.stats.Deleted++
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	_ = pc.Close()
	w.WriteHeader(http.StatusOK)
}

// readTrack records arrivals: a video frame completes at the marker bit.
func (s *Server) readTrack(tr *webrtc.TrackRemote) {
	video := tr.Kind() == webrtc.RTPCodecTypeVideo
	s.mu.Lock()
	s.tracks++
	session := s.tracks
	s.mu.Unlock()
	var cur Frame
	var pkt rtp.Packet
	buf := make([]byte, 1600)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		now := time.Now()
		s.mu.Lock()
		if !video {
			s.stats.AudioPackets++
			s.stats.AudioBytes += int64(len(pkt.Payload))
			s.stats.LastAudio = now
			s.audioAt = append(s.audioAt, now)
			s.mu.Unlock()
			continue
		}
		cur.Bytes += len(pkt.Payload)
		if isKeyPayload(pkt.Payload) {
			cur.Key = true
		}
		s.stats.VideoBytes += int64(len(pkt.Payload))
		if pkt.Marker {
			cur.At, cur.RTPTime, cur.Session = now, pkt.Timestamp, session
			s.frames = append(s.frames, cur)
			s.stats.Frames++
			if cur.Key {
				s.stats.KeyFrames++
			}
			s.stats.LastVideo = now
			cur = Frame{}
		}
		s.mu.Unlock()
	}
}

// isKeyPayload spots an IDR or SPS in an H.264 RTP payload (single NAL,
// STAP-A or the first FU-A fragment).
func isKeyPayload(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch t := p[0] & 0x1f; t {
	case 5, 7:
		return true
	case 24: // STAP-A
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			if i+2 < len(p) {
				if nt := p[i+2] & 0x1f; nt == 5 || nt == 7 {
					return true
				}
			}
			i += 2 + size
		}
	case 28: // FU-A
		return p[1]&0x80 != 0 && p[1]&0x1f == 5
	}
	return false
}
