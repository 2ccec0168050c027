package whip

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/cunbo/cunbo/internal/secret"
	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/fanout"
)

// session publishes once: offer, answer, connect, send until the link
// fails or ctx ends. It always closes the peer connection and deletes the
// server resource before returning.
func (p *Publisher) session(ctx context.Context, tracks **stream.Tracks) (err error) {
	api, estCh, err := p.newAPI()
	if err != nil {
		return err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return fmt.Errorf("whip: peer connection: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var bg []chan struct{} // helper goroutines to wait for
	defer func() {
		_ = pc.Close()
		for _, c := range bg {
			<-c
		}
	}()

	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, "video", "cunbo")
	if err != nil {
		return fmt.Errorf("whip: video track: %w", err)
	}
	vs, err := pc.AddTransceiverFromTrack(video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return fmt.Errorf("whip: video transceiver: %w", err)
	}
	bg = append(bg, drainRTCP(vs.Sender()))
	var audio *webrtc.TrackLocalStaticSample
	withAudio := !p.cfg.NoAudio && len((*tracks).AudioConfig) > 0
	if withAudio {
		audio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		}, "audio", "cunbo")
		if err != nil {
			return fmt.Errorf("whip: audio track: %w", err)
		}
		as, err := pc.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fmt.Errorf("whip: audio transceiver: %w", err)
		}
		bg = append(bg, drainRTCP(as.Sender()))
	}

	state := make(chan webrtc.PeerConnectionState, 8)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		select {
		case state <- s:
		default: // a full channel means nobody is waiting for old states
		}
	})

	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("whip: create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("whip: set offer: %w", err)
	}
	gt := time.NewTimer(p.cfg.ConnectTimeout)
	select {
	case <-gathered:
	case <-gt.C:
		// Send what we have: host candidates come first.
	case <-sctx.Done():
		gt.Stop()
		return nil
	}
	gt.Stop()

	answer, res, err := p.offerAnswer(sctx, pc.LocalDescription().SDP)
	if err != nil {
		return err
	}
	defer p.deleteResource(res)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("whip: server's answer is not usable SDP: %w", err)
	}

	if err := waitConnected(sctx, state, p.cfg.ConnectTimeout); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var est cc.BandwidthEstimator
	select {
	case est = <-estCh:
		p.est.Store(&est)
		defer p.est.Store(nil)
		p.target.Store(int64(est.GetTargetBitrate()))
		est.OnTargetBitrateChange(func(bps int) {
			p.target.Store(int64(bps))
			if p.cfg.OnTargetBitrate != nil {
				p.cfg.OnTargetBitrate(bps)
			}
		})
		if p.cfg.OnTargetBitrate != nil {
			p.cfg.OnTargetBitrate(est.GetTargetBitrate())
		}
	default:
	}
	p.setConnected(res.String())
	defer p.setDisconnected()
	p.log.Info("whip: publishing", "resource", secret.URL(res.String()))

	// The session ends when ICE gives up; "disconnected" is left to heal.
	linkErr := make(chan error, 1)
	watch := make(chan struct{})
	bg = append(bg, watch)
	go func() {
		defer close(watch)
		for {
			select {
			case s := <-state:
				if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
					linkErr <- fmt.Errorf("whip: connection %s", s)
					cancel()
					return
				}
			case <-sctx.Done():
				return
			}
		}
	}()

	var tx *opusTranscoder
	if withAudio {
		tx, err = startOpus(sctx, p.cfg.FFmpeg, **tracks, func(pkt []byte, d time.Duration) {
			if audio.WriteSample(media.Sample{Data: pkt, Duration: d}) == nil {
				p.audio.Add(1)
				p.link.Count(len(pkt))
			}
		}, p.log)
		if err != nil {
			// Video alone is better than nothing; say so.
			p.fail(fmt.Errorf("whip: audio disabled for this session: %w", err))
		} else {
			defer tx.close()
		}
	}

	err = p.send(sctx, video, tx, tracks)
	if ctx.Err() != nil {
		return nil
	}
	select {
	case lerr := <-linkErr:
		return lerr
	default:
	}
	return err
}

func waitConnected(ctx context.Context, state <-chan webrtc.PeerConnectionState, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case s := <-state:
			switch s {
			case webrtc.PeerConnectionStateConnected:
				return nil
			case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
				return fmt.Errorf("whip: ICE/DTLS connection %s before media flowed", s)
			}
		case <-t.C:
			return fmt.Errorf("whip: not connected within %v (ICE/DTLS)", timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// drainRTCP reads the sender's RTCP so the interceptors (NACK, TWCC, GCC)
// see it. The returned channel closes when the sender is closed.
func drainRTCP(s *webrtc.RTPSender) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			if _, _, err := s.Read(buf); err != nil {
				return
			}
		}
	}()
	return done
}

// send moves units from the queue to the tracks until ctx ends.
func (p *Publisher) send(ctx context.Context, video *webrtc.TrackLocalStaticSample, tx *opusTranscoder, tracks **stream.Tracks) error {
	p.link.Queue().SkipToLatestKey()
	gate := videoGate{start: time.Now()}
	paused := false
	started := false
	var last time.Duration
	frame := time.Second / 30
	if (*tracks).FPS > 0 {
		frame = time.Second / time.Duration((*tracks).FPS)
	}
	for {
		it, err := p.link.Queue().Next(ctx)
		if err != nil {
			return nil
		}
		switch it.Kind {
		case fanout.KindTracks:
			t := p.acceptTracks(it.Tracks)
			if t == nil {
				*tracks = nil
				return errors.New("whip: stopped on invalid tracks")
			}
			*tracks = t
		case fanout.KindVideo:
			u := it.Video
			if !started {
				if !u.Key {
					continue
				}
				started, last = true, u.PTS-frame
			}
			d := u.PTS - last
			if d <= 0 || d > time.Second {
				d = frame // the receiver's clock only needs to move forward
			}
			last = u.PTS
			au, err := annexB(u, *tracks)
			if err != nil {
				p.log.Warn("whip: dropping bad access unit", "err", err)
				continue
			}
			if !gate.admit(time.Now(), u.Key, len(au), int(p.target.Load())) {
				if !paused {
					paused = true
					p.log.Info("whip: video held until the next keyframe: the link carries far less than it sends",
						"estimate_kbps", p.target.Load()/1000, "sending_kbps", gate.rate(time.Now())/1000)
				}
				p.mu.Lock()
				p.videoHeld++
				p.mu.Unlock()
				continue
			}
			paused = false
			if err := video.WriteSample(media.Sample{Data: au, Duration: d}); err != nil {
				return fmt.Errorf("whip: write video: %w", err)
			}
			p.link.Count(len(au))
		case fanout.KindAudio:
			if tx != nil && started {
				tx.write(it.Audio)
			}
		}
	}
}

// annexB serialises an access unit, putting the parameter sets in front of
// every keyframe so a viewer can join there.
func annexB(u *stream.VideoUnit, t *stream.Tracks) ([]byte, error) {
	nalus := u.NALUs
	if u.Key {
		hasSPS := false
		for _, n := range nalus {
			if len(n) > 0 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS {
				hasSPS = true
				break
			}
		}
		if !hasSPS {
			nalus = append([][]byte{t.SPS, t.PPS}, nalus...)
		}
	}
	return h264.AnnexB(nalus).Marshal()
}
