package main

import "flag"

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
