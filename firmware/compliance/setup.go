package compliance

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/speech"
	"github.com/cunbo/cunbo/stream/record"
)

// Installed locations of the speech worker, in the order they are tried:
// next to the running binary (a `make build` tree: bin/cunbo and
// bin/cunbo-speech) and where the .deb puts it.
var workerPlaces = []string{"/usr/lib/cunbo/cunbo-speech"}

// VADFile is the Silero VAD model's file name.
const VADFile = "silero_vad.onnx"

// SpeechPaths finds the speech worker and the VAD model for a model
// directory. The VAD model is looked for inside modelDir, then beside it
// (speech/README: the trainer copies silero_vad.onnx and one model
// directory). Paths that are not found are returned anyway: the supervisor
// then reports captions off with the reason.
func SpeechPaths(modelDir string) (worker, vad string) {
	var places []string
	if exe, err := os.Executable(); err == nil {
		places = append(places, filepath.Join(filepath.Dir(exe), "cunbo-speech"))
	}
	places = append(places, workerPlaces...)
	worker = places[len(places)-1]
	for _, p := range places {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			worker = p
			break
		}
	}
	vad = filepath.Join(modelDir, VADFile)
	if _, err := os.Stat(vad); err != nil {
		if beside := filepath.Join(filepath.Dir(modelDir), VADFile); fileExists(beside) {
			vad = beside
		}
	}
	return worker, vad
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// LoadLinter loads the trainer's rule pack at path (a file, or a directory
// holding default.pack). A missing or broken pack falls back to the
// built-in one with a logged reason: captions should not go dark because of
// a typo in a local word list.
func LoadLinter(path string, log *slog.Logger) (*lint.Linter, error) {
	if log == nil {
		log = slog.Default()
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "default.pack")
	}
	if path != "" && fileExists(path) {
		pack, err := lint.LoadPack(path)
		if err == nil {
			l, err := lint.New(pack)
			if err == nil {
				return l, nil
			}
			log.Error("rule pack unusable; using the built-in rules", "path", path, "err", err)
		} else {
			log.Error("rule pack unusable; using the built-in rules", "path", path, "err", err)
		}
	}
	l, err := lint.NewDefault()
	if err != nil {
		return nil, fmt.Errorf("compliance: built-in rules: %w", err)
	}
	return l, nil
}

// BoxConfig describes the caption checker of a box (or the simulator).
type BoxConfig struct {
	// ModelDir is the recogniser's directory. VADModel and WorkerPath
	// default to what SpeechPaths finds.
	ModelDir, VADModel, WorkerPath string
	// RulePack is the trainer's rule pack; empty or unusable means the
	// built-in rules.
	RulePack string
	// FlaggedDir holds the flagged segments; empty means warnings only.
	FlaggedDir   string
	FlaggedQuota int64
	Device       string
	// Recorder is the pipeline's recording ring; nil means segments
	// without clips.
	Recorder *record.Recorder
	// Mic is the format of the pipeline's audio tap.
	Mic    hw.AudioFormat
	Logger *slog.Logger
}

// NewBox builds the loop and the speech supervisor for a box. Nothing here
// stops the box from streaming: a missing model or worker means captions
// off (with the reason on the phone page), a flagged directory that cannot
// be opened means warnings without segments.
func NewBox(cfg BoxConfig) (*Captions, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	lt, err := LoadLinter(cfg.RulePack, log)
	if err != nil {
		return nil, err
	}
	var store *flagged.Store
	if cfg.FlaggedDir != "" {
		fcfg := flagged.Config{Dir: cfg.FlaggedDir, QuotaBytes: cfg.FlaggedQuota, Logger: log}
		if cfg.Recorder != nil {
			fcfg.MakeRoom = cfg.Recorder.MakeRoom
		}
		store, err = flagged.Open(fcfg)
		if err != nil {
			log.Error("no flagged segments; warnings only", "err", err)
			store = nil
		}
	}
	lcfg := Config{Linter: lt, Store: store, Device: cfg.Device, Logger: log}
	if cfg.Recorder != nil {
		lcfg.Recorder = cfg.Recorder
	}
	loop, err := New(lcfg)
	if err != nil {
		return nil, err
	}
	worker, vad := SpeechPaths(cfg.ModelDir)
	if cfg.WorkerPath != "" {
		worker = cfg.WorkerPath
	}
	if cfg.VADModel != "" {
		vad = cfg.VADModel
	}
	return NewCaptions(speech.Config{WorkerPath: worker, VADModel: vad, ModelDir: cfg.ModelDir,
		Input: cfg.Mic, Logger: log.With("part", "speech")}, loop)
}
