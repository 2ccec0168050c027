package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/config"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/secret"
	"periph.io/x/conn/v3/gpio"
)

// BuildOptions adjust FromConfig for where the box runs.
type BuildOptions struct {
	// VirtualPanel uses fake pins instead of GPIO: a desk box or a
	// development machine without buttons.
	VirtualPanel bool
	// HTTPAddr overrides the config's [http] listen address.
	HTTPAddr string
	// ConfigProblems are the configuration's mistakes the box works around
	// (config.Load's warnings): they are listed on the phone page.
	ConfigProblems []*config.FieldError
	Logger         *slog.Logger
}

// FromConfig builds the box a configuration file describes: camera and
// microphone, the pipeline with its destinations, recorder and catalogue,
// the panel on GPIO (or virtual), and the phone page.
func FromConfig(cfg *config.Config, bo BuildOptions) (Options, error) {
	log := bo.Logger
	if log == nil {
		log = slog.Default()
	}
	epoch := time.Now()
	format := pipeline.Format(cfg.Video.Portrait)
	var video hw.VideoSource
	var err error
	switch cfg.Video.Source {
	case "rpicam":
		video, err = hw.NewRPiCam(hw.RPiCamConfig{Format: format, Epoch: epoch, Logger: log.With("part", "camera")})
	case "v4l2":
		video, err = hw.NewV4L2(hw.V4L2Config{Device: cfg.Video.Device, Format: format, Epoch: epoch,
			Logger: log.With("part", "camera")})
	case "test":
		video, err = hw.NewTestPattern(hw.TestPatternConfig{Format: format, Epoch: epoch})
	default:
		err = fmt.Errorf("unknown video source %q", cfg.Video.Source)
	}
	if err != nil {
		return Options{}, fmt.Errorf("app: camera: %w", err)
	}
	af := hw.AudioFormat{SampleRate: cfg.Audio.SampleRate, Channels: cfg.Audio.Channels}
	var audio hw.AudioSource
	switch cfg.Audio.Source {
	case "alsa":
		audio, err = hw.NewALSA(hw.ALSAConfig{Device: cfg.Audio.Device, Format: af, Logger: log.With("part", "mic")})
	case "test":
		audio, err = hw.NewTone(hw.ToneConfig{Format: af, Epoch: epoch})
	default:
		err = fmt.Errorf("unknown audio source %q", cfg.Audio.Source)
	}
	if err != nil {
		_ = video.Close()
		return Options{}, fmt.Errorf("app: microphone: %w", err)
	}

	var panel Panel
	if bo.VirtualPanel {
		panel = VirtualPanel()
	} else if panel, err = GPIOPanel(cfg.GPIO, log); err != nil {
		// The pipeline closes its sources only from Run.
		_ = video.Close()
		_ = audio.Close()
		return Options{}, err
	}
	ring, err := hw.ParseLevel(cfg.GPIO.RingLevel)
	if err != nil {
		ring = hw.LevelMid
	}
	addr := cfg.HTTP.Listen
	if bo.HTTPAddr != "" {
		addr = bo.HTTPAddr
	}
	dests, shown := destinations(cfg.Dest)
	return Build(Spec{
		Pipeline: pipeline.Config{
			Video: video, Audio: audio, Portrait: cfg.Video.Portrait,
			Destinations: dests, RecordDir: cfg.Record.Dir, RecordQuota: int64(cfg.Record.QuotaMB) << 20,
			VideoKbps: cfg.Video.BitrateKbps, Epoch: epoch,
		},
		Catalogue: cfg.Catalogue, RulePack: cfg.RulePack, SpeechModel: cfg.Speech.ModelDir,
		FlaggedDir: filepath.Join(cfg.StateDir, "flagged"), StateDir: cfg.StateDir, ReviewURL: cfg.Review.URL,
		DeviceID: cfg.DeviceID, Panel: panel, RingOnLevel: ring, HTTPAddr: addr, PIN: cfg.PIN,
		Destination: shown, Problems: ConfigProblems(bo.ConfigProblems), Logger: log,
	})
}

// destinations maps the configured destinations onto the pipeline's, and
// says where the stream goes with the keys masked (package secret). An
// RTMP key is the last element of the ingest URL; a WHIP key is its
// bearer token.
func destinations(ds []config.Destination) (out []pipeline.Destination, shown string) {
	var names []string
	for _, d := range ds {
		u := strings.TrimSuffix(d.URL, "/")
		switch d.Kind {
		case "whip":
			out = append(out, pipeline.Destination{Name: d.Name, Kind: pipeline.KindWHIP, URL: d.URL, Token: d.Key})
			s := d.Name + " (" + secret.URL(u)
			if d.Key != "" {
				s += "，密钥 " + secret.Key(d.Key)
			}
			names = append(names, s+")")
		case "rtmp":
			full := u
			if d.Key != "" {
				full += "/" + d.Key
			}
			out = append(out, pipeline.Destination{Name: d.Name, Kind: pipeline.KindRTMP, URL: full})
			names = append(names, d.Name+" ("+secret.URL(full)+")")
		default: // config.Load refuses it; pipeline.New says why too
			out = append(out, pipeline.Destination{Name: d.Name, Kind: d.Kind, URL: d.URL})
		}
	}
	return out, strings.Join(names, "，")
}

// ConfigProblems turns the configuration's worked-around mistakes into the
// phone page's list: file and line to find them, the English key as it is
// written in the file, what is expected and an example.
func ConfigProblems(fes []*config.FieldError) []web.SetupProblem {
	out := make([]web.SetupProblem, 0, len(fes))
	for _, fe := range fes {
		where := filepath.Base(fe.File)
		if fe.Line > 0 {
			where += fmt.Sprintf(" 第%d行", fe.Line)
		}
		if fe.Key != "" {
			where += " (" + fe.Key + ")"
		}
		out = append(out, web.SetupProblem{Source: "config", Where: where, Message: fe.Chinese(), Hint: fe.Example})
	}
	return out
}

// GPIOPanel opens the real buttons, status LED and ring light.
func GPIOPanel(g config.GPIO, log *slog.Logger) (Panel, error) {
	var halts []gpio.PinIO
	closeAll := func() error {
		var errs []error
		for _, p := range halts {
			errs = append(errs, p.Halt())
		}
		return errors.Join(errs...)
	}
	open := func(what string, bcm int) (gpio.PinIO, error) {
		p, err := hw.OpenGPIO(bcm)
		if err != nil {
			_ = closeAll()
			return nil, fmt.Errorf("app: %s on GPIO%d: %w", what, bcm, err)
		}
		halts = append(halts, p)
		return p, nil
	}
	var buttons []hw.Button
	for _, b := range []struct {
		name string
		bcm  int
	}{
		{firmware.ButtonBig, g.BigButton}, {firmware.ButtonNext, g.NextButton}, {firmware.ButtonPrev, g.PrevButton},
		{firmware.ButtonLight, g.LightButton}, {firmware.ButtonMark, g.MarkButton},
	} {
		p, err := open(b.name+" button", b.bcm)
		if err != nil {
			return Panel{}, err
		}
		buttons = append(buttons, hw.Button{Name: b.name, Pin: p})
	}
	var rgb [3]gpio.PinIO
	for i, bcm := range []int{g.LEDRed, g.LEDGreen, g.LEDBlue} {
		p, err := open("status LED", bcm)
		if err != nil {
			return Panel{}, err
		}
		rgb[i] = p
	}
	led, err := hw.NewStatusLED(rgb[0], rgb[1], rgb[2], hw.LEDOptions{ActiveLow: g.LEDActiveLow,
		Logger: log.With("part", "led")})
	if err != nil {
		_ = closeAll()
		return Panel{}, fmt.Errorf("app: status LED: %w", err)
	}
	pwm, err := hw.OpenSysfsPWM(g.RingPWMChip, g.RingPWMChannel)
	if err != nil {
		_ = closeAll()
		return Panel{}, fmt.Errorf("app: ring light: %w", err)
	}
	ring := hw.NewRingLight(pwm, hw.RingOptions{Logger: log.With("part", "ring")})
	bo := hw.ButtonOptions{Debounce: g.Debounce.Duration, LongPress: g.LongPress.Duration, Logger: log.With("part", "buttons")}
	return Panel{
		LED: led, Ring: ring,
		Buttons: func(ctx context.Context) (<-chan hw.ButtonEvent, error) {
			return hw.WatchButtons(ctx, bo, buttons...)
		},
		Close: func() error { return errors.Join(closeAll(), pwm.Halt()) },
	}, nil
}
