// Package rtmp publishes the encoded stream to an RTMP or RTMPS ingest
// server (Douyin, Kuaishou, nginx-rtmp) with gortmplib, and keeps it there:
// write deadlines notice a dead link, reconnects back off exponentially
// with jitter, and every (re)connection starts with metadata and sequence
// headers, then resumes at the newest keyframe.
package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/fanout"
	"github.com/cunbo/cunbo/stream/outq"
	"github.com/cunbo/cunbo/stream/retry"
)

// Config configures a Publisher. Only URL is required.
type Config struct {
	// URL is rtmp://host[:port]/app/streamKey[?query] or rtmps://...
	URL string
	// TLSConfig for rtmps; nil uses the system roots and the URL's host.
	TLSConfig *tls.Config
	// DialContext opens the TCP connection; nil uses net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// ConnectTimeout bounds dial, TLS, RTMP handshake and publish.
	// Default 5 s.
	ConnectTimeout time.Duration
	// WriteTimeout is how long one message may take to leave before the
	// link counts as dead. Default 5 s.
	WriteTimeout time.Duration
	// The first retry after a failure is immediate. BackoffMin is the
	// longest second retry delay (default 250 ms); delays grow ×1.6 per
	// failed attempt up to BackoffMax (default 5 s), each drawn uniformly
	// from [d/2, d]. Kick cuts a wait short.
	BackoffMin, BackoffMax time.Duration
	// Queue bounds the send backlog; zero means fanout.LiveQueueLimits
	// (a live viewer is better served skipping ahead than falling behind).
	Queue fanout.QueueLimits
	// Logger; nil discards.
	Logger *slog.Logger
}

// Stats is a snapshot of the publisher's state. BytesSent counts every
// byte written to the connections, RTMP framing and handshakes included.
type Stats struct {
	outq.Snapshot
	// SocketPending is bytes the peer has not acknowledged yet (unsent
	// in the kernel plus in flight); AckedBitrate the rate at which the
	// peer acknowledges, bits per second; RTT TCP's smoothed round trip.
	// Zero where the platform does not say (non-Linux).
	SocketPending int
	AckedBitrate  int64
	RTT           time.Duration
}

// Publisher pushes the stream to one RTMP URL. Its Sink methods only queue
// and never block; Run does the sending. It is a fanout.SelfQueued output.
type Publisher struct {
	outq.Inlet // SetTracks, WriteVideo, WriteAudio, SelfQueued, Kick

	cfg     Config
	target  target
	log     *slog.Logger
	link    *outq.Link
	tcpConn atomic.Pointer[net.Conn] // current socket, for TCP_INFO

	mu    sync.Mutex
	acked ackSampler
}

// New validates cfg and returns an idle publisher.
func New(cfg Config) (*Publisher, error) {
	t, err := parseTarget(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 250 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 5 * time.Second
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = cfg.BackoffMin
	}
	if cfg.DialContext == nil {
		cfg.DialContext = (&net.Dialer{}).DialContext
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("rtmp", t.safe)
	in, link := outq.New("rtmp", cfg.Queue, log)
	return &Publisher{Inlet: in, cfg: cfg, target: t, log: log, link: link}, nil
}

// Stats returns a snapshot.
func (p *Publisher) Stats() Stats {
	now := time.Now()
	var pending int
	var acked uint64
	var rtt time.Duration
	var sockOK bool
	if c := p.tcpConn.Load(); c != nil {
		pending, acked, rtt, sockOK = socketState(*c)
	}
	s := Stats{Snapshot: p.link.Snapshot(now)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if sockOK && s.Connected {
		s.SocketPending, s.RTT = pending, rtt
		s.AckedBitrate = p.acked.rate(now, acked)
	} else {
		p.acked = ackSampler{}
	}
	return s
}

// ackSampler turns the kernel's acknowledged-bytes counter into a rate,
// smoothed over the callers' polling.
type ackSampler struct {
	at    time.Time
	acked uint64
	bps   float64
}

func (a *ackSampler) rate(now time.Time, acked uint64) int64 {
	if a.at.IsZero() || acked < a.acked {
		a.at, a.acked, a.bps = now, acked, 0
		return 0
	}
	if dt := now.Sub(a.at); dt >= 200*time.Millisecond {
		r := float64(acked-a.acked) * 8 / dt.Seconds()
		if a.bps == 0 {
			a.bps = r
		} else {
			a.bps = 0.5*a.bps + 0.5*r
		}
		a.at, a.acked = now, acked
	}
	return int64(a.bps)
}

// Run publishes until ctx ends, reconnecting as needed, then unpublishes,
// closes the connection and returns nil. It returns an error only when
// called twice. Units written after Run returns are discarded.
func (p *Publisher) Run(ctx context.Context) error {
	if err := p.link.Start(); err != nil {
		return err
	}
	defer p.link.Queue().Close()
	var tracks *trackHeaders
	attempt := 0
	for ctx.Err() == nil {
		if tracks == nil {
			var ok bool
			if tracks, ok = outq.Tracks(ctx, p.link, p.acceptTracks); !ok {
				break
			}
		}
		s, err := p.connect(ctx)
		if err == nil {
			since := time.Now()
			p.link.Connected(since)
			p.log.Info("rtmp: publishing")
			err = p.stream(ctx, s, &tracks)
			s.close(ctx.Err() != nil)
			p.tcpConn.Store(nil)
			p.link.Disconnected()
			if time.Since(since) > 10*time.Second {
				attempt = 0 // it was a working link; retry fast
			}
		}
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			p.fail(err)
		}
		if !p.link.Wait(ctx, retry.Delay(p.cfg.BackoffMin, p.cfg.BackoffMax, attempt)) {
			break
		}
		attempt++
	}
	p.log.Info("rtmp: stopped")
	return nil
}

func (p *Publisher) fail(err error) {
	p.log.Warn("rtmp: link down", "err", err)
	p.link.Failed(err)
}

// trackHeaders are the parsed codec parameters, ready to announce.
type trackHeaders struct {
	tracks stream.Tracks
	avcc   *mp4.AVCDecoderConfiguration
	asc    *mpeg4audio.AudioSpecificConfig // nil: no audio
}

// acceptTracks parses t; invalid tracks are reported and nil is returned,
// so the publisher stays offline rather than send a stream no one can
// decode.
func (p *Publisher) acceptTracks(t *stream.Tracks) *trackHeaders {
	h, err := parseTracks(t)
	if err != nil {
		p.fail(err)
		return nil
	}
	return h
}

func parseTracks(t *stream.Tracks) (*trackHeaders, error) {
	var sps h264.SPS
	if len(t.SPS) < 4 || len(t.PPS) == 0 {
		return nil, errors.New("rtmp: tracks lack H.264 SPS/PPS")
	}
	if err := sps.Unmarshal(t.SPS); err != nil {
		return nil, fmt.Errorf("rtmp: bad H.264 SPS: %w", err)
	}
	h := &trackHeaders{tracks: *t, avcc: &mp4.AVCDecoderConfiguration{
		AnyTypeBox:                 mp4.AnyTypeBox{Type: mp4.BoxTypeAvcC()},
		ConfigurationVersion:       1,
		Profile:                    sps.ProfileIdc,
		ProfileCompatibility:       t.SPS[2],
		Level:                      sps.LevelIdc,
		Reserved:                   0b111111,
		LengthSizeMinusOne:         3,
		Reserved2:                  0b111,
		NumOfSequenceParameterSets: 1,
		SequenceParameterSets:      []mp4.AVCParameterSet{{Length: uint16(len(t.SPS)), NALUnit: t.SPS}},
		NumOfPictureParameterSets:  1,
		PictureParameterSets:       []mp4.AVCParameterSet{{Length: uint16(len(t.PPS)), NALUnit: t.PPS}},
	}}
	if len(t.AudioConfig) > 0 {
		h.asc = &mpeg4audio.AudioSpecificConfig{}
		if err := h.asc.Unmarshal(t.AudioConfig); err != nil {
			return nil, fmt.Errorf("rtmp: bad AAC AudioSpecificConfig: %w", err)
		}
	}
	return h, nil
}

// session is one publishing connection.
type session struct {
	p      *Publisher
	client *gortmplib.Client
	rc     *readAheadConn
	// base is the DTS of the first unit sent on this connection: every
	// connection's timeline starts at zero, as a fresh publish should.
	base    time.Duration
	started bool

	// stopping is set once Run's context ends; from then on no write may
	// arm a new deadline. broken: a write failed, so the chunk stream may
	// be cut mid-message and nothing more can be said on it.
	deadlineMu sync.Mutex
	stopping   bool
	broken     bool
}

func (p *Publisher) connect(ctx context.Context) (*session, error) {
	cctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
	defer cancel()
	s := &session{p: p}
	s.client = &gortmplib.Client{
		URL:     p.target.lib,
		Publish: true,
		// Used for both schemes so that the read-ahead sits above TLS.
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := p.cfg.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tuneSocket(c)
			p.tcpConn.Store(&c)
			if p.target.lib.Scheme == "rtmps" {
				cfg := p.cfg.TLSConfig.Clone()
				if cfg == nil {
					cfg = &tls.Config{}
				}
				if cfg.ServerName == "" {
					cfg.ServerName, _, _ = net.SplitHostPort(addr)
				}
				tc := tls.Client(c, cfg)
				if err := tc.HandshakeContext(ctx); err != nil {
					c.Close()
					return nil, fmt.Errorf("tls: %w", err)
				}
				c = tc
			}
			s.rc = newReadAheadConn(c, p.link.Counter())
			return s.rc, nil
		},
	}
	if err := s.client.Initialize(cctx); err != nil {
		if s.rc != nil {
			s.rc.Close()
		}
		if cctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %v: %w", p.cfg.ConnectTimeout, err)
		}
		return nil, fmt.Errorf("rtmp: connect %s: %w", p.target.safe, err)
	}
	return s, nil
}

// stream sends from the queue until the link fails or ctx ends.
func (p *Publisher) stream(ctx context.Context, s *session, tracks **trackHeaders) error {
	connCtx, cancel := context.WithCancel(ctx)
	watched := make(chan struct{})
	defer func() { cancel(); <-watched }()
	go func() {
		defer close(watched)
		select {
		case <-s.rc.dead: // peer closed or reset: notice now, not at the next write
			cancel()
		case <-connCtx.Done():
			if ctx.Err() != nil {
				s.interrupt()
			}
		}
	}()
	p.link.Queue().SkipToLatestKey()
	if err := s.sendHeaders(*tracks); err != nil {
		return err
	}
	for {
		it, err := p.link.Queue().Next(connCtx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return s.deadErr()
		}
		if err := s.readInbound(); err != nil {
			return err
		}
		before := p.link.Counter().Load()
		switch it.Kind {
		case fanout.KindTracks:
			h := p.acceptTracks(it.Tracks)
			if h == nil {
				*tracks = nil
				return errors.New("rtmp: stopped on invalid tracks")
			}
			*tracks = h
			err = s.sendHeaders(h)
		case fanout.KindVideo:
			err = s.sendVideo(it.Video)
		case fanout.KindAudio:
			err = s.sendAudio(it.Audio)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		p.link.MeterSince(before)
	}
}

func (s *session) deadErr() error {
	s.rc.mu.Lock()
	defer s.rc.mu.Unlock()
	return fmt.Errorf("rtmp: connection lost: %w", s.rc.err)
}

// interrupt makes a write stuck on a stalled link (closed TCP window)
// return now: stopping must not wait for WriteTimeout.
func (s *session) interrupt() {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	s.stopping = true
	_ = s.rc.Conn.SetWriteDeadline(time.Now())
}

// armWrite gives the next write WriteTimeout, unless Run is stopping.
func (s *session) armWrite() error {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	if s.stopping {
		return errors.New("rtmp: stopping")
	}
	if err := s.rc.Conn.SetWriteDeadline(time.Now().Add(s.p.cfg.WriteTimeout)); err != nil {
		return fmt.Errorf("rtmp: %w", err)
	}
	return nil
}

func (s *session) write(msg message.Message) error {
	if err := s.armWrite(); err != nil {
		return err
	}
	if err := s.client.Write(msg); err != nil {
		s.broken = true
		return fmt.Errorf("rtmp: send: %w", err)
	}
	return nil
}

// readInbound handles whatever the server sent (acks, pings, status).
// Reads happen here, on the sending goroutine, because answering them
// writes to the connection.
func (s *session) readInbound() error {
	for s.rc.Buffered() > 0 {
		// Reading may answer (a ping's pong, an ack): that write needs a
		// fresh deadline too, the last one may have passed while idle.
		if err := s.armWrite(); err != nil {
			return err
		}
		_ = s.rc.SetReadDeadline(time.Now().Add(s.p.cfg.WriteTimeout))
		msg, err := s.client.Read()
		_ = s.rc.SetReadDeadline(time.Time{})
		if err != nil {
			s.broken = true
			return fmt.Errorf("rtmp: read from server: %w", err)
		}
		if cmd, ok := msg.(*message.CommandAMF0); ok && cmd.Name == "onStatus" && len(cmd.Arguments) >= 2 {
			if obj, ok := cmd.Arguments[1].(amf0.Object); ok {
				level, _ := obj.GetString("level")
				code, _ := obj.GetString("code")
				if level == "error" {
					return fmt.Errorf("rtmp: server said %s", code)
				}
			}
		}
	}
	return nil
}

func (s *session) sendHeaders(h *trackHeaders) error {
	t := h.tracks
	meta := amf0.Object{
		{Key: "width", Value: float64(t.Width)},
		{Key: "height", Value: float64(t.Height)},
		{Key: "framerate", Value: float64(t.FPS)},
		{Key: "videocodecid", Value: float64(message.CodecH264)},
		{Key: "encoder", Value: "cunbo"},
	}
	if h.asc != nil {
		meta = append(meta,
			amf0.ObjectEntry{Key: "audiocodecid", Value: float64(message.CodecMPEG4Audio)},
			amf0.ObjectEntry{Key: "audiosamplerate", Value: float64(h.asc.SampleRate)},
			amf0.ObjectEntry{Key: "audiochannels", Value: float64(t.Channels)},
			amf0.ObjectEntry{Key: "stereo", Value: t.Channels == 2})
	}
	if err := s.write(&message.DataAMF0{
		ChunkStreamID: 4, MessageStreamID: 0x1000000,
		Payload: []any{"@setDataFrame", "onMetaData", meta},
	}); err != nil {
		return err
	}
	if err := s.write(&message.Video{
		ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecH264, IsKeyFrame: true, Type: message.VideoTypeConfig,
		AVCConfig: h.avcc,
	}); err != nil {
		return err
	}
	if h.asc == nil {
		return nil
	}
	return s.write(&message.Audio{
		ChunkStreamID: message.AudioChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecMPEG4Audio, Rate: message.AudioRate44100, Depth: message.AudioDepth16,
		IsStereo: true, AACType: message.AudioAACTypeConfig, AACConfig: h.asc,
	})
}

func (s *session) sendVideo(u *stream.VideoUnit) error {
	if !s.started {
		if !u.Key {
			return nil // the queue already skipped to a keyframe; belt and braces
		}
		s.base, s.started = u.DTS, true
	}
	dts := u.DTS - s.base
	if dts < 0 {
		return nil
	}
	avcc, err := h264.AVCC(u.NALUs).Marshal()
	if err != nil {
		return fmt.Errorf("rtmp: bad access unit: %w", err)
	}
	return s.write(&message.Video{
		ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecH264, IsKeyFrame: u.Key, Type: message.VideoTypeAU,
		AU: avcc, DTS: dts, PTSDelta: u.PTS - u.DTS,
	})
}

func (s *session) sendAudio(u *stream.AudioUnit) error {
	if !s.started || u.PTS < s.base {
		return nil // audio joins after the first keyframe
	}
	return s.write(&message.Audio{
		ChunkStreamID: message.AudioChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecMPEG4Audio, Rate: message.AudioRate44100, Depth: message.AudioDepth16,
		IsStereo: true, AACType: message.AudioAACTypeAU, AU: u.Data, DTS: u.PTS - s.base,
	})
}

// close ends the connection; polite sends FCUnpublish and deleteStream
// first so the server finalises the stream at once, unless a failed or
// interrupted write left the link unusable.
func (s *session) close(polite bool) {
	if polite && !s.broken {
		// Shutting down: a dead link must not hold us for WriteTimeout.
		_ = s.rc.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		key := s.p.target.lib.Fragment
		_ = s.client.Write(&message.CommandAMF0{ChunkStreamID: 3, Name: "FCUnpublish", CommandID: 6, Arguments: []any{nil, key}})
		_ = s.client.Write(&message.CommandAMF0{ChunkStreamID: 3, Name: "deleteStream", CommandID: 7, Arguments: []any{nil, float64(1)}})
	}
	s.rc.Close()
	<-s.rc.dead
}
