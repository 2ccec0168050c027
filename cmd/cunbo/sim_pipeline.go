package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cunbo/cunbo/firmware/cards"
	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/overlay"
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
	// moments, log); RecordDir defaults to a folder in it.
	DataDir     string
	PreviewAddr string
	// CatalogCSV and PhotoDir load a trainer's catalogue (XLSX, CSV or
	// TSV); empty CSV means the embedded demo catalogue.
	CatalogCSV, PhotoDir string
	// RulePack checks the cards' words; empty means the built-in rules.
	RulePack string
	// Problems is filled by buildSim: the catalogue's rows and cards that
	// were left out, for the phone page.
	Problems []web.SetupProblem
	FontPath string
	// AudioWAV is looped as the microphone; empty means the shared test
	// speech when it can be found, else a test tone.
	AudioWAV  string
	VideoKbps int
	Logger    *slog.Logger
}

// defaultSpeechWAV is the project's shared test speech, looked up relative
// to the working directory and to the module root above it.
const defaultSpeechWAV = "shared/testdata/speech/tts-lajiao-zuidi.wav"

// buildSim opens the simulated sources and the catalogue and builds the
// pipeline, not yet running. Catalogue problems are written to warn (in
// Chinese, for the trainer) and kept in cfg.Problems; like the box, the
// simulator runs without the cards it cannot show.
func buildSim(cfg *simConfig, warn io.Writer) (*pipeline.Pipeline, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cat, problems, err := loadSimCatalog(*cfg, warn)
	if err != nil {
		return nil, err
	}
	cfg.Problems = problems
	if cat.Len() == 0 {
		cfg.Card = 0 // no card to show: start hidden rather than refuse to run
	}
	if cfg.Card < 0 || cfg.Card > cat.Len() {
		return nil, fmt.Errorf("--card %d: 商品目录只有 %d 个商品 (the catalogue has %d products)", cfg.Card, cat.Len(), cat.Len())
	}
	epoch := time.Now()
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(cfg.Portrait), Epoch: epoch})
	if err != nil {
		return nil, err
	}
	audio, err := simAudio(cfg.AudioWAV, epoch)
	if err != nil {
		video.Close()
		return nil, err
	}
	p, err := pipeline.New(pipeline.Config{
		Video:       video,
		Audio:       audio,
		Portrait:    cfg.Portrait,
		Catalog:     cat,
		InitialCard: cfg.Card - 1,
		FontPath:    cfg.FontPath,
		RTMP:        cfg.RTMP,
		PreviewAddr: cfg.PreviewAddr,
		RecordDir:   cfg.RecordDir,
		RecordQuota: cfg.RecordQuota,
		VideoKbps:   cfg.VideoKbps,
		Epoch:       epoch,
		Logger:      cfg.Logger,
	})
	if err != nil {
		video.Close()
		audio.Close()
		return nil, err
	}
	return p, nil
}

// loadSimCatalog loads the trainer's catalogue, or the demo, and keeps the
// cards whose words pass the rules. The error is only for a broken build
// (the demo or the built-in rules failing).
func loadSimCatalog(cfg simConfig, warn io.Writer) (*overlay.Catalog, []web.SetupProblem, error) {
	lt, err := compliance.LoadLinter(cfg.RulePack, cfg.Logger)
	if err != nil {
		return nil, nil, err
	}
	var cat *overlay.Catalog
	var problems []web.SetupProblem
	if cfg.CatalogCSV == "" {
		demo, err := overlay.DemoCatalog()
		if err != nil {
			return nil, nil, err
		}
		cat, problems = cards.Check(demo, "", lt)
	} else {
		photos := cfg.PhotoDir
		if photos == "" {
			photos = filepath.Dir(cfg.CatalogCSV)
		}
		cat, problems = cards.Load(cfg.CatalogCSV, photos, lt)
	}
	for _, p := range problems {
		fmt.Fprintf(warn, "商品目录 %s：%s", p.Where, p.Message)
		if p.Hint != "" {
			fmt.Fprintf(warn, "（%s）", p.Hint)
		}
		fmt.Fprintln(warn)
	}
	return cat, problems, nil
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
