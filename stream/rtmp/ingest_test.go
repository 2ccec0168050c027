package rtmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/cunbo/cunbo/stream"
)

// ingest is an in-process RTMP ingest on 127.0.0.1 built on gortmplib's
// server side. It accepts publishes and checks what arrives on each
// connection the way a platform's ingest would need it (metadata and
// sequence headers first, a keyframe at time zero, then media), and it can
// misbehave on demand: drop every connection at once, or stop reading.
type ingest struct {
	l     net.Listener
	stall bool // after accepting the publish, never read again
	wg    sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]chan struct{} // closed when the test drops the conn
	accepts  []time.Time                // TCP accepts
	sessions []*ingestSession
}

// ingestSession is what one publishing connection delivered.
type ingestSession struct {
	Key                string // stream key the publisher asked for
	Published          time.Time
	Meta, AVCC, AACCfg bool
	Video, Keys, Audio int
	Pongs              int
	FirstVideoDTS      time.Duration
	FirstVideoKey      bool
	// Err is the first protocol violation seen, if any.
	Err error

	lastVideoDTS time.Duration
	sc           *gortmplib.ServerConn
}

func newIngest(t *testing.T, stall bool) *ingest {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &ingest{l: l, stall: stall, conns: map[net.Conn]chan struct{}{}}
	s.wg.Go(s.acceptLoop)
	t.Cleanup(s.Close)
	return s
}

func (s *ingest) URL(key string) string { return "rtmp://" + s.l.Addr().String() + "/live/" + key }

func (s *ingest) acceptLoop() {
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		if s.stall {
			// Keep the receive window small and unscaled so that a peer
			// that stops reading closes it after a few dozen KiB.
			_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
		}
		drop := make(chan struct{})
		s.mu.Lock()
		s.conns[c] = drop
		s.accepts = append(s.accepts, time.Now())
		s.mu.Unlock()
		s.wg.Go(func() {
			defer s.forget(c)
			s.serve(c, drop)
		})
	}
}

func (s *ingest) forget(c net.Conn) {
	c.Close()
	s.mu.Lock()
	if drop, ok := s.conns[c]; ok {
		close(drop)
		delete(s.conns, c)
	}
	s.mu.Unlock()
}

func (s *ingest) serve(c net.Conn, drop <-chan struct{}) {
	// A publisher that goes quiet for this long is gone.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	sc := &gortmplib.ServerConn{RW: c}
	if err := sc.Initialize(); err != nil {
		return // the publisher hung up during connect: its business
	}
	if err := sc.AcceptConn(); err != nil {
		return
	}
	sess := &ingestSession{Key: sc.URL.Path, sc: sc}
	if !sc.Publish {
		sess.Err = errors.New("asked to play, not publish")
	}
	if err := sc.AcceptAction(); err != nil {
		return
	}
	sess.Published = time.Now()
	s.mu.Lock()
	s.sessions = append(s.sessions, sess)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		sess.sc = nil // keep the counts, not the connection's buffers
		s.mu.Unlock()
	}()
	if s.stall {
		<-drop
		return
	}
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		msg, err := sc.Read()
		if err != nil {
			return
		}
		s.mu.Lock()
		sess.take(msg)
		s.mu.Unlock()
	}
}

func (sess *ingestSession) violate(format string, args ...any) {
	if sess.Err == nil {
		sess.Err = fmt.Errorf(format, args...)
	}
}

// take checks one message against what a fresh publish must look like.
func (sess *ingestSession) take(msg message.Message) {
	switch m := msg.(type) {
	case *message.DataAMF0:
		if len(m.Payload) >= 2 && m.Payload[0] == "@setDataFrame" && m.Payload[1] == "onMetaData" {
			sess.Meta = true
		}
	case *message.Video:
		if m.Type == message.VideoTypeConfig {
			if m.AVCConfig == nil || len(m.AVCConfig.SequenceParameterSets) == 0 || len(m.AVCConfig.PictureParameterSets) == 0 {
				sess.violate("AVC sequence header without SPS/PPS")
			}
			sess.AVCC = true
			return
		}
		if !sess.Meta || !sess.AVCC {
			sess.violate("video before metadata and sequence header")
		}
		var au h264.AVCC
		if err := au.Unmarshal(m.AU); err != nil {
			sess.violate("video unit %d: %v", sess.Video, err)
			return
		}
		if h264.IsRandomAccess(au) != m.IsKeyFrame {
			sess.violate("video unit %d: keyframe flag %v on a unit whose IDR-ness is %v", sess.Video, m.IsKeyFrame, !m.IsKeyFrame)
		}
		if sess.Video == 0 {
			sess.FirstVideoDTS, sess.FirstVideoKey = m.DTS, m.IsKeyFrame
		} else if m.DTS < sess.lastVideoDTS {
			sess.violate("video DTS went back from %v to %v", sess.lastVideoDTS, m.DTS)
		}
		sess.lastVideoDTS = m.DTS
		sess.Video++
		if m.IsKeyFrame {
			sess.Keys++
		}
	case *message.UserControlPingResponse:
		sess.Pongs++
	case *message.Audio:
		if m.AACType == message.AudioAACTypeConfig {
			sess.AACCfg = m.AACConfig != nil
			return
		}
		if !sess.AACCfg {
			sess.violate("audio before the AAC sequence header")
		}
		if sess.Video == 0 {
			sess.violate("audio before the first keyframe")
		}
		if len(m.AU) == 0 {
			sess.violate("empty audio unit")
		}
		sess.Audio++
	}
}

// Accepts is how many TCP connections arrived, and when.
func (s *ingest) Accepts() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.accepts...)
}

// Sessions is how many publishes were accepted.
func (s *ingest) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Session returns a copy of publish i, or false if there is none yet.
func (s *ingest) Session(i int) (ingestSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 || i >= len(s.sessions) {
		return ingestSession{}, false
	}
	return *s.sessions[i], true
}

// Ping sends a ping request on the newest publish. (The session's
// goroutine only reads, and the publisher sends too little for the server
// side to owe it acknowledgements, so this write has the writer alone.)
func (s *ingest) Ping() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) == 0 || s.sessions[len(s.sessions)-1].sc == nil {
		return errors.New("no open publish to ping")
	}
	return s.sessions[len(s.sessions)-1].sc.Write(&message.UserControlPingRequest{ServerTime: 1234})
}

// DropAll closes every open connection from the server side, as an ingest
// that restarts or kicks the publisher would.
func (s *ingest) DropAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c, drop := range s.conns {
		c.Close()
		close(drop)
		delete(s.conns, c)
		n++
	}
	return n
}

// Close stops accepting, drops every connection and waits for the
// connection goroutines.
func (s *ingest) Close() {
	s.l.Close()
	s.DropAll()
	s.wg.Wait()
}

// synthOptions shape a synthetic stream.
type synthOptions struct {
	FPS int
	// GOP is the keyframe interval in frames.
	GOP int
	// KeyBytes and FrameBytes are the sizes of IDR and other pictures.
	KeyBytes, FrameBytes int
}

// feedSynthetic writes testTracks and then H.264 and AAC units to sink in
// real time until ctx ends or the returned stop is called. The pictures
// are well-formed length-delimited NAL units (IDR or non-IDR slices with
// filler payload): enough for an ingest that relays without decoding,
// which is all an RTMP publisher's transport is judged on.
func feedSynthetic(ctx context.Context, t *testing.T, sink stream.Sink, o synthOptions) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	sink.SetTracks(testTracks(t))
	key := make([]byte, o.KeyBytes)
	key[0] = byte(h264.NALUTypeIDR) | 0x60
	frame := make([]byte, o.FrameBytes)
	frame[0] = byte(h264.NALUTypeNonIDR) | 0x40
	for i := 1; i < len(key); i++ {
		key[i] = byte(i*7 + 1)
	}
	for i := 1; i < len(frame); i++ {
		frame[i] = byte(i*13 + 1)
	}
	aac := make([]byte, 180)
	aac[0] = 0x21 // a plausible raw AAC-LC element header; content is not inspected
	const aacFrame = time.Second * 1024 / 44100
	frameDur := time.Second / time.Duration(o.FPS)
	wg.Go(func() {
		start := time.Now()
		var audioAt time.Duration
		for i := 0; ; i++ {
			at := time.Duration(i) * frameDur
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(start.Add(at))):
			}
			u := &stream.VideoUnit{PTS: at, DTS: at, Key: i%o.GOP == 0, NALUs: [][]byte{frame}}
			if u.Key {
				u.NALUs = [][]byte{key}
			}
			sink.WriteVideo(u)
			for ; audioAt < at+frameDur; audioAt += aacFrame {
				sink.WriteAudio(&stream.AudioUnit{PTS: audioAt, Data: aac})
			}
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// waitUntil polls cond until it holds, failing the test (never hanging
// it) when ctx ends first.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, context.Cause(ctx))
		case <-time.After(5 * time.Millisecond):
		}
	}
}
