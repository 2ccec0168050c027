package main

import (
	"flag"
	"log/slog"
	"path/filepath"

	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/pipeline"
)

// simCaptionFlags are the caption-checker options of `cunbo sim --http`.
type simCaptionFlags struct {
	model, vad, worker, rules, flagged string
}

func addSimCaptionFlags(fs *flag.FlagSet) *simCaptionFlags {
	f := &simCaptionFlags{}
	fs.StringVar(&f.model, "speech-model", "", "with --http: speech model `dir` for captions (none: captions off, as on a box without a model)")
	fs.StringVar(&f.vad, "speech-vad", "", "silero_vad.onnx (default: in or beside --speech-model)")
	fs.StringVar(&f.worker, "speech-worker", "", "cunbo-speech binary (default: next to cunbo, then /usr/lib/cunbo)")
	fs.StringVar(&f.rules, "rules", "", "rule pack file (default: the built-in rules)")
	fs.StringVar(&f.flagged, "flagged", "", "keep flagged moments in this `dir` (default: beside --record; none without it)")
	return f
}

// simCompliance builds the simulator's caption checker the way a box's is
// built; the audio tap's format is followed, whatever --audio is.
func simCompliance(f *simCaptionFlags, p *pipeline.Pipeline, recordDir string, log *slog.Logger) (*compliance.Captions, error) {
	dir := f.flagged
	if dir == "" && recordDir != "" {
		dir = filepath.Join(filepath.Dir(filepath.Clean(recordDir)), "flagged")
	}
	return compliance.NewBox(compliance.BoxConfig{
		ModelDir: f.model, VADModel: f.vad, WorkerPath: f.worker, RulePack: f.rules,
		FlaggedDir: dir, FlaggedQuota: 1 << 30, Device: "sim",
		Recorder: p.Recorder(), Logger: log,
	})
}
