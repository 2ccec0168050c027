package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/stream/whep"
)

// simConfig is everything the simulated box is built from. Subcommands that
// run a simulated box (sim, and sim --http for the phone page) fill it from
// their flags and call buildSim.
type simConfig struct {
	RTMP     []string
	Portrait bool
	// Card is the catalogue card shown from the start, counted from 1 as
	// the streamer counts; 0 starts with the card hidden.
	Card        int
	RecordDir   string
	RecordQuota int64
	// DataDir holds what a box keeps on its SD card (recording, flagged
	// moments, key, log); RecordDir defaults to a folder in it.
	DataDir     string
	PreviewAddr string
	// CatalogCSV and PhotoDir load a trainer's catalogue (XLSX, CSV or
	// TSV); empty CSV means the embedded demo catalogue.
	CatalogCSV, PhotoDir string
	// RulePack checks the cards' words and the captions; empty means the
	// built-in rules.
	RulePack string
	// Speech is the caption checker's model, VAD model and worker (no
	// model: captions off, as on a box without one).
	SpeechModel, SpeechVAD, SpeechWorker string
	// FlaggedDir keeps flagged moments (default: beside RecordDir).
	FlaggedDir string
	// ReviewURL uploads flagged moments while idle; empty keeps them.
	ReviewURL string
	// HTTPAddr serves the phone page (empty: none) behind PIN.
	HTTPAddr, PIN string
	FontPath      string
	// AudioWAV is looped as the microphone; empty means the shared test
	// speech when it can be found, else a test tone.
	AudioWAV  string
	VideoKbps int
	Logger    *slog.Logger
}

// defaultSpeechWAV is the project's shared test speech, looked up relative
// to the working directory and to the module root above it.
const defaultSpeechWAV = "shared/testdata/speech/tts-lajiao-zuidi.wav"

// buildSim builds the simulated box through app.Build, as `cunbo run`
// builds the real one: only the sources (test pattern, looping speech) and
// the panel (virtual) are the simulator's. Catalogue problems are written
// to warn (in Chinese, for the trainer) as well as listed on the phone
// page; like the box, the simulator runs without the cards it cannot show.
func buildSim(cfg simConfig, warn io.Writer) (app.Options, error) {
	spec, err := simSpec(cfg)
	if err != nil {
		return app.Options{}, err
	}
	opts, err := app.Build(spec)
	if err != nil {
		return app.Options{}, err
	}
	for _, p := range opts.Problems {
		fmt.Fprintf(warn, "商品目录 %s：%s", p.Where, p.Message)
		if p.Hint != "" {
			fmt.Fprintf(warn, "（%s）", p.Hint)
		}
		fmt.Fprintln(warn)
	}
	return opts, nil
}

// simSpec opens the simulator's sources and describes the box around them.
func simSpec(cfg simConfig) (app.Spec, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	epoch := time.Now()
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(cfg.Portrait), Epoch: epoch})
	if err != nil {
		return app.Spec{}, err
	}
	audio, err := simAudio(cfg.AudioWAV, epoch)
	if err != nil {
		_ = video.Close()
		return app.Spec{}, err
	}
	flaggedDir := cfg.FlaggedDir
	if flaggedDir == "" && cfg.RecordDir != "" {
		flaggedDir = filepath.Join(filepath.Dir(filepath.Clean(cfg.RecordDir)), "flagged")
	}
	return app.Spec{
		Pipeline: pipeline.Config{
			Video: video, Audio: audio, Portrait: cfg.Portrait, FontPath: cfg.FontPath,
			RTMP: cfg.RTMP, PreviewAddr: cfg.PreviewAddr, RecordDir: cfg.RecordDir, RecordQuota: cfg.RecordQuota,
			VideoKbps: cfg.VideoKbps, Epoch: epoch, Logger: cfg.Logger,
		},
		Catalogue: cfg.CatalogCSV, Photos: cfg.PhotoDir, DemoCatalogue: true, FirstCard: cfg.Card - 1,
		RulePack: cfg.RulePack, SpeechModel: cfg.SpeechModel, SpeechVAD: cfg.SpeechVAD, SpeechWorker: cfg.SpeechWorker,
		FlaggedDir: flaggedDir, StateDir: cfg.DataDir, ReviewURL: cfg.ReviewURL, DeviceID: "sim",
		Panel: app.VirtualPanel(), HTTPAddr: cfg.HTTPAddr, PIN: cfg.PIN, Destination: simDestination(cfg.RTMP),
		// The page is opened on this machine or on a phone on the LAN.
		Preview: whep.Config{IncludeLoopback: true},
		Logger:  cfg.Logger,
	}, nil
}

// simAudio loops a WAV as the microphone, or plays a tone when there is
// none to be found.
func simAudio(path string, epoch time.Time) (hw.AudioSource, error) {
	if path == "" {
		path = findSpeechWAV()
	}
	if path == "" {
		return hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Frequency: 440, Epoch: epoch})
	}
	return hw.NewWAVLoop(hw.WAVLoopConfig{Path: path, Epoch: epoch})
}

func findSpeechWAV() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		for _, rel := range []string{defaultSpeechWAV, filepath.Join("..", defaultSpeechWAV)} {
			p := filepath.Join(dir, rel)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

type pipelineStats = pipeline.Stats
