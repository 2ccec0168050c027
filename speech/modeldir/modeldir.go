// Package modeldir recognises a speech model directory that a trainer has
// installed on the box and says which recogniser family it holds and which
// files to load. It is pure Go: the box uses it to say "captions off" before
// ever starting the worker, the worker uses it to build its engine config.
//
// Recognised layouts (int8 files are preferred when both exist):
//
//	streaming-transducer  encoder*.onnx decoder*.onnx joiner*.onnx tokens.txt
//	                      (e.g. streaming zipformer zh-14M); hotwords.txt optional
//	streaming-paraformer  encoder*.onnx decoder*.onnx tokens.txt
//	paraformer            model*.onnx tokens.txt, ONNX metadata of a paraformer
//	sense-voice           model*.onnx tokens.txt, ONNX metadata of SenseVoice
//	tdnn-ctc              model*.onnx tokens.txt, ONNX metadata model_type=tdnn
//
// An optional model.json overrides the guess, for example
// {"family":"offline-transducer","modeling_unit":"cjkchar","hotwords_score":1.5}.
package modeldir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Family is a recogniser family the worker knows how to run.
type Family string

const (
	StreamingTransducer Family = "streaming-transducer"
	StreamingParaformer Family = "streaming-paraformer"
	OfflineTransducer   Family = "offline-transducer"
	Paraformer          Family = "paraformer"
	SenseVoice          Family = "sense-voice"
	TDNNCTC             Family = "tdnn-ctc"
)

// Streaming reports whether the family decodes audio incrementally.
func (f Family) Streaming() bool { return f == StreamingTransducer || f == StreamingParaformer }

// Transducer reports whether the family supports hotword biasing.
func (f Family) Transducer() bool { return f == StreamingTransducer || f == OfflineTransducer }

func (f Family) known() bool {
	switch f {
	case StreamingTransducer, StreamingParaformer, OfflineTransducer, Paraformer, SenseVoice, TDNNCTC:
		return true
	}
	return false
}

// ErrNoModel means the directory holds no model at all: captions are off
// because nobody installed one, not because something is broken.
var ErrNoModel = errors.New("no speech model installed")

// Layout is what to load from a model directory.
type Layout struct {
	Dir    string
	Family Family
	// Model is the single ONNX file of paraformer, sense-voice and tdnn-ctc.
	Model string
	// Encoder, Decoder and Joiner are the transducer/streaming files.
	Encoder, Decoder, Joiner string
	Tokens                   string
	// Hotwords is hotwords.txt when present and the family can use it.
	Hotwords      string
	HotwordsScore float64
	// ModelingUnit is the hotword tokenisation (cjkchar for Mandarin).
	ModelingUnit string
	// Language is the SenseVoice language hint.
	Language string
}

// Manifest is the optional model.json.
type Manifest struct {
	Family        Family  `json:"family"`
	ModelingUnit  string  `json:"modeling_unit"`
	HotwordsScore float64 `json:"hotwords_score"`
	Language      string  `json:"language"`
}

// Detect inspects dir. It returns an error wrapping ErrNoModel when dir is
// missing or holds no ONNX file.
func Detect(dir string) (Layout, error) {
	if dir == "" {
		return Layout{}, fmt.Errorf("%w: no model directory configured", ErrNoModel)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return Layout{}, fmt.Errorf("%w: %s does not exist", ErrNoModel, dir)
	}
	if err != nil {
		return Layout{}, fmt.Errorf("model directory: %w", err)
	}
	var onnx []string
	have := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		have[e.Name()] = true
		if strings.HasSuffix(e.Name(), ".onnx") {
			onnx = append(onnx, e.Name())
		}
	}
	if len(onnx) == 0 {
		return Layout{}, fmt.Errorf("%w: no .onnx file in %s", ErrNoModel, dir)
	}
	sort.Strings(onnx)

	l := Layout{Dir: dir, ModelingUnit: "cjkchar", HotwordsScore: 1.5, Language: "zh"}
	var man Manifest
	if have["model.json"] {
		b, err := os.ReadFile(filepath.Join(dir, "model.json"))
		if err != nil {
			return Layout{}, fmt.Errorf("model.json: %w", err)
		}
		if err := json.Unmarshal(b, &man); err != nil {
			return Layout{}, fmt.Errorf("model.json in %s: %w", dir, err)
		}
		if man.Family != "" && !man.Family.known() {
			return Layout{}, fmt.Errorf("model.json in %s: unknown family %q", dir, man.Family)
		}
		if man.ModelingUnit != "" {
			l.ModelingUnit = man.ModelingUnit
		}
		if man.HotwordsScore > 0 {
			l.HotwordsScore = man.HotwordsScore
		}
		if man.Language != "" {
			l.Language = man.Language
		}
	}
	if !have["tokens.txt"] {
		return Layout{}, fmt.Errorf("model in %s has no tokens.txt", dir)
	}
	l.Tokens = filepath.Join(dir, "tokens.txt")

	pick := func(prefix string) string {
		var plain, int8 string
		for _, n := range onnx {
			if !strings.HasPrefix(n, prefix) {
				continue
			}
			if strings.Contains(n, ".int8.") {
				if int8 == "" {
					int8 = n
				}
			} else if plain == "" {
				plain = n
			}
		}
		if int8 != "" {
			return filepath.Join(dir, int8)
		}
		if plain != "" {
			return filepath.Join(dir, plain)
		}
		return ""
	}
	l.Encoder, l.Decoder, l.Joiner = pick("encoder"), pick("decoder"), pick("joiner")
	l.Model = pick("model")

	switch {
	case man.Family != "":
		l.Family = man.Family
	case l.Encoder != "" && l.Decoder != "" && l.Joiner != "":
		l.Family = StreamingTransducer
	case l.Encoder != "" && l.Decoder != "":
		l.Family = StreamingParaformer
	case l.Model != "":
		meta, err := ReadMetadata(l.Model)
		if err != nil {
			return Layout{}, fmt.Errorf("reading %s: %w", l.Model, err)
		}
		f, ok := familyFromMetadata(meta, dir)
		if !ok {
			return Layout{}, fmt.Errorf("%s: cannot tell the model family (model_type %q); add a model.json", l.Model, meta["model_type"])
		}
		l.Family = f
	default:
		return Layout{}, fmt.Errorf("%s: no model.onnx or encoder/decoder files (found %s)", dir, strings.Join(onnx, ", "))
	}

	if err := l.check(); err != nil {
		return Layout{}, err
	}
	if l.Family.Transducer() && have["hotwords.txt"] {
		l.Hotwords = filepath.Join(dir, "hotwords.txt")
	}
	return l, nil
}

func (l Layout) check() error {
	switch l.Family {
	case StreamingTransducer, OfflineTransducer:
		if l.Encoder == "" || l.Decoder == "" || l.Joiner == "" {
			return fmt.Errorf("%s model in %s needs encoder, decoder and joiner .onnx files", l.Family, l.Dir)
		}
	case StreamingParaformer:
		if l.Encoder == "" || l.Decoder == "" {
			return fmt.Errorf("%s model in %s needs encoder and decoder .onnx files", l.Family, l.Dir)
		}
	default:
		if l.Model == "" {
			return fmt.Errorf("%s model in %s needs a model.onnx or model.int8.onnx", l.Family, l.Dir)
		}
	}
	return nil
}

func familyFromMetadata(meta map[string]string, dir string) (Family, bool) {
	mt := strings.ToLower(meta["model_type"])
	switch {
	case mt == "tdnn":
		return TDNNCTC, true
	case strings.Contains(mt, "sense_voice") || meta["with_itn"] != "" || meta["lang_zh"] != "":
		return SenseVoice, true
	case strings.Contains(mt, "paraformer") || meta["lfr_window_size"] != "":
		return Paraformer, true
	}
	// Last resort: sherpa-onnx release directories carry the family in
	// their name.
	base := strings.ToLower(filepath.Base(dir))
	switch {
	case strings.Contains(base, "sense-voice") || strings.Contains(base, "sensevoice"):
		return SenseVoice, true
	case strings.Contains(base, "paraformer"):
		return Paraformer, true
	}
	return "", false
}

// Files lists the ONNX files the layout loads.
func (l Layout) Files() []string {
	var out []string
	for _, f := range []string{l.Model, l.Encoder, l.Decoder, l.Joiner} {
		if f != "" && (f == l.Model || l.Family != TDNNCTC && l.Family != Paraformer && l.Family != SenseVoice) {
			out = append(out, f)
		}
	}
	return out
}

// Validate checks that every file the layout loads is a well-formed ONNX
// container. The inference library aborts the whole process on a truncated
// or garbage file; this catches the common cases (an interrupted copy) with a
// clear error first. It cannot prove a model is usable.
func (l Layout) Validate() error {
	for _, f := range l.Files() {
		if _, err := ReadMetadata(f); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}
