// Package whip publishes the encoded stream to a WHIP endpoint (RFC 9725)
// with pion/webrtc: H.264 video, Opus audio (transcoded from the encoder's
// AAC by a small ffmpeg child), NACK answered from a retransmission buffer,
// and transport-wide congestion control feeding Google Congestion Control's
// send-side estimate to a target-bitrate callback the adaptation controller
// listens to.
//
// The life cycle follows the draft: POST the offer with a bearer token,
// keep the Location, DELETE it when done. When ICE fails (the link was gone
// for longer than a short outage), the session is torn down and published
// again: first retry at once, then jittered backoff capped at BackoffMax;
// Kick retries at once when the network says the link is back.
package whip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/webrtc/v4"

	"github.com/cunbo/cunbo/internal/secret"
	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/fanout"
	"github.com/cunbo/cunbo/stream/outq"
	"github.com/cunbo/cunbo/stream/retry"
)

// Config configures a Publisher. Only URL is required.
type Config struct {
	// URL is the WHIP endpoint, http:// or https://.
	URL string
	// Token, if set, is sent as "Authorization: Bearer <Token>".
	Token string
	// HTTPClient for the WHIP requests; nil uses a plain client.
	HTTPClient *http.Client
	// RequestTimeout bounds each HTTP request. Default 5 s.
	RequestTimeout time.Duration
	// ConnectTimeout bounds ICE gathering plus ICE/DTLS connection after
	// the answer. Default 10 s.
	ConnectTimeout time.Duration
	// ICEDisconnected and ICEFailed are pion's ICE timeouts: short
	// outages heal inside the session, longer ones end it and the
	// publisher publishes again. Defaults 2 s and 5 s.
	ICEDisconnected, ICEFailed time.Duration
	// BackoffMin is the second retry's delay (the first is immediate);
	// delays grow ×1.6 up to BackoffMax (default 5 s), drawn uniformly
	// from [d/2, d]. Default 250 ms.
	BackoffMin, BackoffMax time.Duration
	// InitialBitrate, MinBitrate and MaxBitrate bound the congestion
	// controller's estimate, in bits per second. Defaults 1.5 Mbit/s,
	// 150 kbit/s, 8 Mbit/s.
	InitialBitrate, MinBitrate, MaxBitrate int
	// OnTargetBitrate is called from pion's goroutine whenever the
	// estimate changes. It must not block.
	OnTargetBitrate func(bps int)
	// NoAudio sends video only (no ffmpeg child is started).
	NoAudio bool
	// FFmpeg is the executable for the AAC→Opus transcoder, default
	// "ffmpeg".
	FFmpeg string
	// Queue bounds the send backlog; zero means fanout.LiveQueueLimits
	// (a live viewer is better served skipping ahead than falling behind).
	Queue fanout.QueueLimits
	// SettingEngine, if set, adjusts pion's settings (tests use it to
	// allow loopback candidates, the bench to pin sockets).
	SettingEngine func(*webrtc.SettingEngine)
	// Logger; nil discards.
	Logger *slog.Logger
}

// Stats is a snapshot of the publisher's state. BytesSent and Bitrate
// count the media payload handed to the tracks.
type Stats struct {
	outq.Snapshot
	// TargetBitrate is the congestion controller's latest estimate,
	// bits per second; 0 before the first session.
	TargetBitrate int
	// LossRate is the loss fraction GCC last saw (0..1); LossTarget and
	// DelayTarget are its two halves' estimates (the target is the
	// smaller), bits per second; Usage is the delay detector's verdict
	// ("normal", "overuse", "underuse"). They say why the target moved.
	LossRate    float64
	LossTarget  int
	DelayTarget int
	Usage       string
	// VideoHeld counts video units not sent because the estimate had
	// collapsed far below the video rate (sending resumes at a keyframe).
	VideoHeld uint64
	// AudioPackets counts Opus packets sent.
	AudioPackets uint64
	// Resource is the Location of the current WHIP session.
	Resource string
}

// Publisher pushes the stream to one WHIP endpoint. Its Sink methods only
// queue; Run does the work. It is a fanout.SelfQueued output.
type Publisher struct {
	outq.Inlet // SetTracks, WriteVideo, WriteAudio, SelfQueued, Kick

	cfg    Config
	url    *url.URL
	log    *slog.Logger
	link   *outq.Link
	audio  atomic.Uint64
	target atomic.Int64
	est    atomic.Pointer[cc.BandwidthEstimator] // the live session's

	mu        sync.Mutex
	videoHeld uint64
	resource  string
}

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("whip: bad config")

// New validates cfg and returns an idle publisher.
func New(cfg Config) (*Publisher, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: URL %q is not an http(s) WHIP endpoint", ErrConfig, secret.URL(cfg.URL))
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.RequestTimeout, 5*time.Second)
	def(&cfg.ConnectTimeout, 10*time.Second)
	def(&cfg.ICEDisconnected, 2*time.Second)
	def(&cfg.ICEFailed, 5*time.Second)
	def(&cfg.BackoffMin, 250*time.Millisecond)
	def(&cfg.BackoffMax, 5*time.Second)
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = cfg.BackoffMin
	}
	defi := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defi(&cfg.InitialBitrate, 1_500_000)
	defi(&cfg.MinBitrate, 150_000)
	defi(&cfg.MaxBitrate, 8_000_000)
	if cfg.MinBitrate > cfg.MaxBitrate || cfg.InitialBitrate < cfg.MinBitrate || cfg.InitialBitrate > cfg.MaxBitrate {
		return nil, fmt.Errorf("%w: bitrates must satisfy min ≤ initial ≤ max", ErrConfig)
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("whip", secret.URL(cfg.URL))
	in, link := outq.New("whip", cfg.Queue, log)
	return &Publisher{Inlet: in, cfg: cfg, url: u, log: log, link: link}, nil
}

// TargetBitrate is the congestion controller's latest estimate in bits per
// second, or 0 if there has been none yet.
func (p *Publisher) TargetBitrate() int { return int(p.target.Load()) }

// Stats returns a snapshot.
func (p *Publisher) Stats() Stats {
	s := Stats{Snapshot: p.link.Snapshot(time.Now())}
	p.mu.Lock()
	s.VideoHeld, s.Resource = p.videoHeld, p.resource
	p.mu.Unlock()
	s.AudioPackets = p.audio.Load()
	s.TargetBitrate = int(p.target.Load())
	if e := p.est.Load(); e != nil {
		st := (*e).GetStats()
		s.LossRate, _ = st["averageLoss"].(float64)
		s.LossTarget, _ = st["lossTargetBitrate"].(int)
		s.DelayTarget, _ = st["delayTargetBitrate"].(int)
		s.Usage, _ = st["usage"].(string)
	}
	return s
}

// Run publishes until ctx ends, publishing again after failures, then
// deletes the session and returns nil. It returns an error only when
// called twice.
func (p *Publisher) Run(ctx context.Context) error {
	if err := p.link.Start(); err != nil {
		return err
	}
	defer p.link.Queue().Close()
	var tracks *stream.Tracks
	attempt := 0
	for ctx.Err() == nil {
		if tracks == nil {
			var ok bool
			if tracks, ok = outq.Tracks(ctx, p.link, p.acceptTracks); !ok {
				break
			}
		}
		began := time.Now()
		err := p.session(ctx, &tracks)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			p.fail(err)
		}
		if time.Since(began) > 10*time.Second && p.wasConnected(began) {
			attempt = 0 // it was a working link; retry fast
		}
		if !p.link.Wait(ctx, retry.Delay(p.cfg.BackoffMin, p.cfg.BackoffMax, attempt)) {
			break
		}
		attempt++
	}
	p.log.Info("whip: stopped")
	return nil
}

func (p *Publisher) acceptTracks(t *stream.Tracks) *stream.Tracks {
	if t == nil || len(t.SPS) == 0 || len(t.PPS) == 0 {
		p.fail(errors.New("whip: tracks without H.264 parameter sets; waiting for valid ones"))
		return nil
	}
	c := *t
	return &c
}

func (p *Publisher) wasConnected(since time.Time) bool {
	return !p.link.Conn().ConnectedSince.Before(since)
}

func (p *Publisher) fail(err error) {
	p.log.Warn("whip: publish failed", "err", err)
	p.link.Failed(err)
}

func (p *Publisher) setConnected(resource string) {
	p.link.Connected(time.Now())
	p.mu.Lock()
	p.resource = resource
	p.mu.Unlock()
}

func (p *Publisher) setDisconnected() {
	p.link.Disconnected()
	p.mu.Lock()
	p.resource = ""
	p.mu.Unlock()
}

// newAPI builds a pion API with NACK/RTX, RTCP reports, TWCC and the GCC
// estimator; the estimator arrives on the returned channel once the peer
// connection exists.
func (p *Publisher) newAPI() (*webrtc.API, <-chan cc.BandwidthEstimator, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, nil, fmt.Errorf("whip: codecs: %w", err)
	}
	reg := &interceptor.Registry{}
	ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		// No pacer: pion's leaky bucket sends at exactly the estimate,
		// which GCC only raises about 8 % a second, so any encoder rate
		// above it piles up in an unbounded queue and viewers fall
		// behind live. The adaptation controller keeps the encoder near
		// the link instead, and GCC's estimate is one of its signals.
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(p.cfg.InitialBitrate),
			gcc.SendSideBWEMinBitrate(p.cfg.MinBitrate),
			gcc.SendSideBWEMaxBitrate(p.cfg.MaxBitrate),
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
		)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("whip: congestion control: %w", err)
	}
	est := make(chan cc.BandwidthEstimator, 1)
	ccf.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) {
		select {
		case est <- e:
		default:
		}
	})
	reg.Add(ccf)
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(me, reg); err != nil {
		return nil, nil, fmt.Errorf("whip: twcc: %w", err)
	}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		return nil, nil, fmt.Errorf("whip: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetICETimeouts(p.cfg.ICEDisconnected, p.cfg.ICEFailed, 500*time.Millisecond)
	if p.cfg.SettingEngine != nil {
		p.cfg.SettingEngine(&se)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	return api, est, nil
}

// offerAnswer POSTs the offer and returns the answer SDP and the absolute
// session resource URL.
func (p *Publisher) offerAnswer(ctx context.Context, offer string) (string, *url.URL, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url.String(), strings.NewReader(offer))
	if err != nil {
		return "", nil, fmt.Errorf("whip: %w", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if p.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.Token)
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return "", nil, fmt.Errorf("whip: no answer from server within %v: %w", p.cfg.RequestTimeout, err)
		}
		return "", nil, fmt.Errorf("whip: POST offer: %w", redact(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", nil, fmt.Errorf("whip: reading answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", nil, &StatusError{Code: resp.StatusCode, Body: snippet(body)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/sdp") {
		return "", nil, fmt.Errorf("whip: answer has Content-Type %q, want application/sdp", ct)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", nil, errors.New("whip: answer has no Location header")
	}
	res, err := p.url.Parse(loc)
	if err != nil {
		return "", nil, fmt.Errorf("whip: bad Location %q: %w", loc, err)
	}
	return string(body), res, nil
}

// StatusError is a WHIP server's refusal.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("whip: server answered %d %s", e.Code, http.StatusText(e.Code))
	if e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden {
		s += " (check the stream token)"
	}
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		b = b[:200]
	}
	return strings.ToValidUTF8(string(b), "?")
}

// redact hides all but the scheme and host of the URL an HTTP client's
// error quotes: a WHIP key may sit anywhere in the endpoint's path or
// query, and the error reaches the log and the status page.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = secret.URL(ue.URL)
	}
	return err
}

// deleteResource ends the session on the server, best effort and bounded:
// the link may be the reason we are leaving.
func (p *Publisher) deleteResource(res *url.URL) {
	ctx, cancel := context.WithTimeout(context.Background(), min(p.cfg.RequestTimeout, 2*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, res.String(), nil)
	if err != nil {
		return
	}
	if p.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.Token)
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		p.log.Debug("whip: DELETE failed", "err", redact(err))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
}
