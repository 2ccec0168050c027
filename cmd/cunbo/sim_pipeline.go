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
	AudioWAV string
	// findSpeech finds the default speech when AudioWAV is empty (nil:
	// above the working directory and the binary).
	findSpeech func() string
	VideoKbps  int
	Logger     *slog.Logger
}

// defaultSpeechWAV is the project's shared test speech, looked up above the
// working directory and above the binary (a demo started from elsewhere
// with a binary built in the checkout still speaks). It is not embedded:
// the box's binary carries no test data.
const defaultSpeechWAV = "shared/testdata/speech/tts-lajiao-zuidi.wav"

// buildSim builds the simulated box through app.Build, as `cunbo run`
// builds the real one: only the sources (test pattern, looping speech) and
// the panel (virtual) are the simulator's. Catalogue problems are written
// to warn (in Chinese, for the trainer) as well as listed on the phone
// page; like the box, the simulator runs without the cards it cannot show.
func buildSim(cfg simConfig, warn io.Writer) (app.Options, error) {
	spec, err := simSpec(cfg, warn)
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

// simSpec opens the simulator's sources and describes the box around them;
// what the trainer should know (no speech to check) is written to warn.
func simSpec(cfg simConfig, warn io.Writer) (app.Spec, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	epoch := time.Now()
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(cfg.Portrait), Epoch: epoch})
	if err != nil {
		return app.Spec{}, err
	}
	if cfg.AudioWAV == "" {
		find := cfg.findSpeech
		if find == nil {
			find = func() string { return findSpeechWAV(speechDirs()...) }
		}
		cfg.AudioWAV = find()
	}
	audio, err := simAudio(cfg.AudioWAV, epoch, cfg.Logger, warn)
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

// simAudio loops a WAV as the microphone, or plays a tone when path is
// empty (none was found), and says so: a tone makes no captions and no warnings,
// which looks like a broken checker.
func simAudio(path string, epoch time.Time, log *slog.Logger, warn io.Writer) (hw.AudioSource, error) {
	if path == "" {
		log.Warn("sim: no speech clip found; the microphone plays a tone", "looked_for", defaultSpeechWAV, "hint", "--audio FILE.wav")
		fmt.Fprintf(warn, "没有找到讲话录音，麦克风只放“嘀——”声，不会有字幕和提醒。用 --audio 指定一个 WAV 文件。"+
			"(no speech clip: %s not found above the working directory or the binary; the microphone plays a tone. Pass --audio FILE.wav)\n", defaultSpeechWAV)
		return hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Frequency: 440, Epoch: epoch})
	}
	log.Info("sim: the microphone loops speech", "wav", path)
	src, err := hw.NewWAVLoop(hw.WAVLoopConfig{Path: path, Epoch: epoch})
	if err != nil {
		return nil, fmt.Errorf("microphone WAV %s: %w", path, err)
	}
	return src, nil
}

// speechDirs are where the shared test speech is looked for: the working
// directory, then the binary's (symbolic links followed, so a link in
// ~/bin finds the checkout).
func speechDirs() []string {
	var dirs []string
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dirs = append(dirs, filepath.Dir(exe))
	}
	return dirs
}

// findSpeechWAV looks for the shared test speech in each of dirs and their
// parents, beside a checkout (shared/ next to the module) or in it.
func findSpeechWAV(dirs ...string) string {
	for _, dir := range dirs {
		for {
			for _, rel := range []string{defaultSpeechWAV, filepath.Join("..", defaultSpeechWAV)} {
				p := filepath.Join(dir, rel)
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
					return p
				}
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return ""
}

type pipelineStats = pipeline.Stats
