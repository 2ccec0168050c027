// Package preview serves the live stream on the local network over RTSP
// (rtsp://127.0.0.1:8554/live by default), so VLC, ffplay or ffprobe can
// watch what is going out. RTSP has no login here: the default address is
// loopback, and listening on the network is the caller's explicit choice. It is a fan-out output: its Sink
// methods may block briefly and are meant to be called from one goroutine
// (fanout gives it its own queue).
//
// Every reader session gets its own gortsplib ServerStream, so a reader who
// joins mid-GOP is held back until the next keyframe instead of being sent
// P-frames it cannot decode; SPS and PPS are in the SDP.
package preview

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/cunbo/cunbo/stream"
)

// DefaultAddr is loopback only: the preview has no authentication, so
// anyone on the village Wi-Fi could otherwise watch the box's camera.
const DefaultAddr = "127.0.0.1:8554"

// Config configures the preview server.
type Config struct {
	// Addr is the RTSP (TCP) listen address, default DefaultAddr.
	Addr string
	// Path is the stream path, default "live".
	Path string
	// UDPRTPAddr and UDPRTCPAddr (e.g. ":8000", ":8001") enable UDP
	// transport as well; empty means RTP over the RTSP connection only,
	// which every player falls back to.
	UDPRTPAddr, UDPRTCPAddr string
	// Logger; nil discards.
	Logger *slog.Logger
	// OnReader, when set, is called on every DESCRIBE before it is
	// answered: a paused pipeline starts its encoder for the new reader.
	OnReader func()
}

// Server is the RTSP preview server.
type Server struct {
	cfg Config
	log *slog.Logger
	srv *gortsplib.Server

	mu        sync.Mutex
	desc      *description.Session // nil until tracks are known
	video     *description.Media
	audio     *description.Media
	videoEnc  *rtph264.Encoder
	audioEnc  *rtpmpeg4audio.Encoder
	audioRate int
	describe  *gortsplib.ServerStream // answers DESCRIBE, never carries media
	readers   map[*gortsplib.ServerSession]*reader
	wallStart time.Time // wall-clock time of PTS 0, for RTCP sender reports
}

type reader struct {
	stream  *gortsplib.ServerStream
	waitKey bool
}

// New returns a server; call Start.
func New(cfg Config) *Server {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	cfg.Path = strings.Trim(cfg.Path, "/")
	if cfg.Path == "" {
		cfg.Path = "live"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log, readers: map[*gortsplib.ServerSession]*reader{}}
}

// Start listens. Readers get 404 until the first tracks arrive.
func (s *Server) Start() error {
	s.srv = &gortsplib.Server{
		Handler:        (*handler)(s),
		RTSPAddress:    s.cfg.Addr,
		UDPRTPAddress:  s.cfg.UDPRTPAddr,
		UDPRTCPAddress: s.cfg.UDPRTCPAddr,
	}
	if err := s.srv.Start(); err != nil {
		return fmt.Errorf("preview: listen %s: %w", s.cfg.Addr, err)
	}
	s.log.Info("preview: serving", "addr", s.cfg.Addr, "path", s.cfg.Path)
	return nil
}

// Close disconnects every reader and stops listening.
func (s *Server) Close() {
	s.mu.Lock()
	s.dropStreamsLocked()
	s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
	}
}

// Readers returns how many reader sessions are set up.
func (s *Server) Readers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readers)
}

func (s *Server) dropStreamsLocked() {
	for ss, r := range s.readers {
		r.stream.Close()
		delete(s.readers, ss)
	}
	if s.describe != nil {
		s.describe.Close()
		s.describe = nil
	}
}

var _ stream.Sink = (*Server)(nil)

// SetTracks implements stream.Sink. New parameters disconnect current
// readers; their players reconnect and read the new SDP.
func (s *Server) SetTracks(t stream.Tracks) {
	if err := s.setTracks(t); err != nil {
		s.log.Error("preview: unusable tracks", "err", err)
	}
}

func (s *Server) setTracks(t stream.Tracks) error {
	var sps h264.SPS
	if err := sps.Unmarshal(t.SPS); err != nil || len(t.PPS) == 0 {
		return fmt.Errorf("bad SPS/PPS: %v", err)
	}
	vf := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: t.SPS, PPS: t.PPS}
	video := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{vf}}
	desc := &description.Session{Title: "cunbo", Medias: []*description.Media{video}}
	venc, err := vf.CreateEncoder()
	if err != nil {
		return err
	}
	var audio *description.Media
	var aenc *rtpmpeg4audio.Encoder
	var rate int
	if len(t.AudioConfig) > 0 {
		var asc mpeg4audio.AudioSpecificConfig
		if err := asc.Unmarshal(t.AudioConfig); err != nil {
			return fmt.Errorf("bad AudioSpecificConfig: %w", err)
		}
		af := &format.MPEG4Audio{PayloadTyp: 97, Config: &asc, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{af}}
		desc.Medias = append(desc.Medias, audio)
		if aenc, err = af.CreateEncoder(); err != nil {
			return err
		}
		rate = asc.SampleRate
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropStreamsLocked()
	s.desc, s.video, s.audio, s.videoEnc, s.audioEnc, s.audioRate = desc, video, audio, venc, aenc, rate
	s.wallStart = time.Time{}
	if s.srv != nil {
		s.describe = &gortsplib.ServerStream{Server: s.srv, Desc: desc}
		if err := s.describe.Initialize(); err != nil {
			s.describe = nil
			return err
		}
	}
	return nil
}

// WriteVideo implements stream.Sink.
func (s *Server) WriteVideo(u *stream.VideoUnit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.videoEnc == nil || len(s.readers) == 0 {
		return
	}
	pkts, err := s.videoEnc.Encode(u.NALUs)
	if err != nil {
		s.log.Warn("preview: packetize video", "err", err)
		return
	}
	ts := uint32(int64(u.PTS) * 90000 / int64(time.Second))
	for _, p := range pkts {
		p.Timestamp = ts
	}
	ntp := s.ntpLocked(u.PTS)
	for _, r := range s.readers {
		if r.waitKey && !u.Key {
			continue
		}
		var before uint64
		if r.waitKey {
			before = r.stream.Stats().BytesSent
		}
		for _, p := range pkts {
			if err := r.stream.WritePacketRTPWithNTP(s.video, p, ntp); err != nil {
				break
			}
		}
		// Only a keyframe that actually went out (the reader is playing,
		// not just set up) ends the wait.
		if r.waitKey && r.stream.Stats().BytesSent > before {
			r.waitKey = false
		}
	}
}

// WriteAudio implements stream.Sink.
func (s *Server) WriteAudio(u *stream.AudioUnit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.audioEnc == nil || len(s.readers) == 0 {
		return
	}
	pkts, err := s.audioEnc.Encode([][]byte{u.Data})
	if err != nil {
		s.log.Warn("preview: packetize audio", "err", err)
		return
	}
	ts := uint32(int64(u.PTS) * int64(s.audioRate) / int64(time.Second))
	for _, p := range pkts {
		p.Timestamp += ts
	}
	ntp := s.ntpLocked(u.PTS)
	for _, r := range s.readers {
		if r.waitKey { // audio starts with the first keyframe
			continue
		}
		for _, p := range pkts {
			if err := r.stream.WritePacketRTPWithNTP(s.audio, p, ntp); err != nil {
				break
			}
		}
	}
}

func (s *Server) ntpLocked(pts time.Duration) time.Time {
	if s.wallStart.IsZero() {
		s.wallStart = time.Now().Add(-pts)
	}
	return s.wallStart.Add(pts)
}

// handler adapts Server to gortsplib's callbacks, keeping them off the
// public API.
type handler Server

func (h *handler) pathOK(path string) bool {
	return strings.Trim(path, "/") == h.cfg.Path
}

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if h.cfg.OnReader != nil && h.pathOK(ctx.Path) {
		h.cfg.OnReader()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.pathOK(ctx.Path) || h.describe == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, h.describe, nil
}

func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.pathOK(ctx.Path) || h.desc == nil || h.srv == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	if r, ok := h.readers[ctx.Session]; ok {
		return &base.Response{StatusCode: base.StatusOK}, r.stream, nil
	}
	if st := ctx.Session.SetuppedStream(); st != nil {
		// Its stream was replaced by new tracks: make the player start over.
		return &base.Response{StatusCode: base.StatusNotFound}, nil, errors.New("stream changed")
	}
	st := &gortsplib.ServerStream{Server: h.srv, Desc: h.desc}
	if err := st.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, nil, err
	}
	h.readers[ctx.Session] = &reader{stream: st, waitKey: true}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.readers[ctx.Session]
	if !ok {
		return &base.Response{StatusCode: base.StatusSessionNotFound}, nil
	}
	r.waitKey = true // also after PAUSE and PLAY again
	h.log.Info("preview: reader playing", "remote", ctx.Conn.NetConn().RemoteAddr().String())
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r, ok := h.readers[ctx.Session]; ok {
		r.stream.Close()
		delete(h.readers, ctx.Session)
	}
}
