package weaklink

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/adapt"
	"github.com/cunbo/cunbo/stream/encode"
	"github.com/cunbo/cunbo/stream/fanout"
	"github.com/cunbo/cunbo/stream/linkwatch"
	"github.com/cunbo/cunbo/stream/record"
	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/whip"
)

// Picture is the bench's camera format: small enough for two shared cores,
// busy enough (noise) that the encoder really uses the bitrate it is given.
var Picture = hw.VideoFormat{Width: 640, Height: 360, FPS: 30}

// MakeClip writes a short lossless clip of moving, noisy test video that
// both systems loop as their camera.
func MakeClip(ctx context.Context, dir string) (string, error) {
	path := filepath.Join(dir, "camera.mkv")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	src := fmt.Sprintf("testsrc2=s=%dx%d:r=%d,noise=alls=18:allf=t", Picture.Width, Picture.Height, Picture.FPS)
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", src, "-t", "4", "-c:v", "ffv1", path).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("weaklink: making the camera clip: %w: %s", err, out)
	}
	return path, nil
}

// Sample is one observation of the box, every 250 ms.
type Sample struct {
	At          time.Time
	DecidedKbps int     // video bitrate the controller chose
	EncodedKbps float64 // what the encoder produced (video+audio) over the last second
	RTMPSent    int64   // bit/s leaving the RTMP publisher
	WHIPSent    int64
	WHIPTarget  int
	Width       int
	Signals     []adapt.Signal
}

// rateTap is a Sink that measures the encoder's output rate.
type rateTap struct {
	mu    sync.Mutex
	sizes []byteAt
}

func (t *rateTap) SetTracks(stream.Tracks) {}
func (t *rateTap) WriteVideo(u *stream.VideoUnit) {
	n := 0
	for _, b := range u.NALUs {
		n += len(b)
	}
	t.add(n)
}
func (t *rateTap) WriteAudio(u *stream.AudioUnit) { t.add(len(u.Data)) }
func (t *rateTap) add(n int) {
	t.mu.Lock()
	t.sizes = append(t.sizes, byteAt{time.Now(), n})
	t.mu.Unlock()
}

func (t *rateTap) kbpsOver(now time.Time, win time.Duration) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	sum := 0
	for i := len(t.sizes) - 1; i >= 0 && now.Sub(t.sizes[i].at) < win; i-- {
		sum += t.sizes[i].n
	}
	return float64(sum) * 8 / win.Seconds() / 1000
}

// Box is cunbo's pipeline running in the box namespace: camera and tone →
// encoder → fan-out → RTMP, WHIP, recorder; the adaptation loop and the
// link watcher around it.
type Box struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	RecDir  string
	RTMP    *rtmp.Publisher
	WHIP    *whip.Publisher
	mu      sync.Mutex
	samples []Sample
	udp     net.PacketConn
}

// startKbps is the box's configured video bitrate: adaptation starts at
// half of it and never goes above it, as on a real box (whose ceiling is
// the configured rate). It is high for the bench's 640×360 picture so the
// two publishers together can fill most of a 4 Mbit/s uplink.
const startKbps = 2000

// StartBox starts cunbo publishing name to rx.
func StartBox(n *Net, rx *Receivers, clip, dir, name string, log *slog.Logger) (*Box, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Box{cancel: cancel, RecDir: filepath.Join(dir, "recording")}
	fail := func(err error) (*Box, error) {
		b.Stop()
		return nil, err
	}
	fan := fanout.New(log)
	var err error
	if b.RTMP, err = rtmp.New(rtmp.Config{URL: rx.RTMPURL(name), DialContext: Dialer(n.Box), Logger: log}); err != nil {
		return fail(err)
	}
	if err := Do(n.Box, func() error {
		var err error
		b.udp, err = net.ListenPacket("udp4", n.BoxIP+":0")
		return err
	}); err != nil {
		return fail(err)
	}
	mux := webrtc.NewICEUDPMux(nil, b.udp)
	if b.WHIP, err = whip.New(whip.Config{
		URL:        rx.WHIPURL(),
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: Dialer(n.Box)}},
		SettingEngine: func(se *webrtc.SettingEngine) {
			se.SetICEUDPMux(mux)
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
			se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		},
		// As the box does: the estimate starts a little above what the
		// encoder sends, since it bounds the rate from the first second.
		InitialBitrate: (adapt.SlowStartKbps(startKbps) + 110) * 1000 * 5 / 4,
		MaxBitrate:     6_000_000,
		Logger:         log,
	}); err != nil {
		return fail(err)
	}
	rec, err := record.New(record.Config{Dir: b.RecDir, QuotaBytes: 4 << 30, SegmentDuration: 30 * time.Second, Logger: log})
	if err != nil {
		return fail(err)
	}
	tap := &rateTap{}
	for _, o := range []struct {
		name string
		sink stream.Sink
	}{{"rtmp", b.RTMP}, {"whip", b.WHIP}, {"record", rec}, {"tap", tap}} {
		if _, err := fan.Add(o.name, o.sink, fanout.QueueLimits{}); err != nil {
			return fail(err)
		}
	}
	enc, err := encode.New(encode.Config{
		Input: Picture, Audio: hw.AudioFormat{SampleRate: 48000, Channels: 1},
		Output: encode.Output{VideoKbps: startKbps}, Codec: encode.CodecX264, LiveSwitch: true, Logger: log,
	}, fan)
	if err != nil {
		return fail(err)
	}
	cam, err := hw.NewFileLoop(hw.FileLoopConfig{Path: clip, Format: Picture, Logger: log})
	if err != nil {
		return fail(err)
	}
	tone, err := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}})
	if err != nil {
		return fail(err)
	}
	var watcher *linkwatch.Watcher
	if err := Do(n.Box, func() error {
		var err error
		watcher, err = linkwatch.Open()
		return err
	}); err != nil {
		return fail(err)
	}
	loop := &adapt.Loop{
		// As the box does: a slow start at full picture size.
		Controller: adapt.New(adapt.Config{StartKbps: adapt.SlowStartKbps(startKbps), MaxKbps: startKbps, StartAtTopRung: true,
			Ladder: adapt.DefaultLadder(Picture.Width, Picture.Height, Picture.FPS)}),
		Encoder: enc,
		Sources: func() []adapt.Source {
			return []adapt.Source{pipeline.RTMPSource("rtmp", b.RTMP), pipeline.WHIPSource("whip", b.WHIP)}
		},
		Base:   encode.Output{Width: Picture.Width, Height: Picture.Height, FPS: Picture.FPS, VideoKbps: startKbps},
		Logger: log,
		OnDecision: func(now time.Time, d adapt.Decision, sigs []adapt.Signal) {
			rs, ws := b.RTMP.Stats(), b.WHIP.Stats()
			log.Debug("weaklink: gcc", "target", ws.TargetBitrate/1000, "loss_target", ws.LossTarget/1000,
				"delay_target", ws.DelayTarget/1000, "loss", ws.LossRate, "usage", ws.Usage)
			b.mu.Lock()
			b.samples = append(b.samples, Sample{At: now, DecidedKbps: d.VideoKbps, EncodedKbps: tap.kbpsOver(now, time.Second),
				RTMPSent: rs.Bitrate, WHIPSent: ws.Bitrate, WHIPTarget: ws.TargetBitrate, Width: d.Rung.Width, Signals: sigs})
			b.mu.Unlock()
		},
	}
	goes := []func(){
		func() { _ = enc.Run(ctx) },
		func() { _ = enc.FeedVideo(ctx, cam) },
		func() { _ = enc.FeedAudio(ctx, tone) },
		func() { _ = b.RTMP.Run(ctx) },
		func() { _ = b.WHIP.Run(ctx) },
		func() { _ = rec.Run(ctx) },
		func() { _ = loop.Run(ctx) },
		func() {
			_ = watcher.Run(ctx, 50*time.Millisecond, func(e linkwatch.Event) {
				log.Info("weaklink: link event, kicking publishers", "kind", e.Kind)
				b.RTMP.Kick()
				b.WHIP.Kick()
			})
		},
	}
	for _, g := range goes {
		b.wg.Add(1)
		go func() { defer b.wg.Done(); g() }()
	}
	b.wg.Add(1)
	go func() { // the fan-out outlives its inputs
		defer b.wg.Done()
		<-ctx.Done()
		fan.Close()
		_ = cam.Close()
		_ = tone.Close()
	}()
	return b, nil
}

// Samples returns the box's observations so far.
func (b *Box) Samples() []Sample {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Sample(nil), b.samples...)
}

// Stop ends everything and waits.
func (b *Box) Stop() {
	b.cancel()
	b.wg.Wait()
	if b.udp != nil {
		_ = b.udp.Close()
	}
}

// Baseline is what a seller would otherwise run: ffmpeg pushing a fixed
// 2500 kbit/s to RTMP, with no reconnect of its own.
type Baseline struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartBaseline runs ffmpeg in the box namespace.
func StartBaseline(n *Net, rx *Receivers, clip, name string) (*Baseline, error) {
	cmd := exec.Command("ip", "netns", "exec", n.Box, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-re", "-stream_loop", "-1", "-i", clip,
		"-re", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000",
		"-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-b:v", "2500k", "-g", "60", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k",
		"-f", "flv", rx.RTMPURL(name))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("weaklink: baseline ffmpeg: %w", err)
	}
	b := &Baseline{cmd: cmd, done: make(chan struct{})}
	go func() { b.err = cmd.Wait(); close(b.done) }()
	return b, nil
}

// Exited reports whether ffmpeg gave up.
func (b *Baseline) Exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// Stop ends ffmpeg.
func (b *Baseline) Stop() {
	if !b.Exited() {
		_ = b.cmd.Process.Signal(os.Interrupt)
		select {
		case <-b.done:
		case <-time.After(3 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	}
}
