package main

import (
	"errors"
	"fmt"

	sherpa "github.com/k2-fsa/sherpa-onnx-go/sherpa_onnx"

	"github.com/cunbo/cunbo/speech/modeldir"
	"github.com/cunbo/cunbo/speech/wire"
)

// engine turns one utterance of 16 kHz mono audio into text.
type engine interface {
	family() modeldir.Family
	// newSession starts an utterance whose audio arrives incrementally.
	newSession() session
	close()
}

// session is one utterance being recognised.
type session interface {
	accept(samples []float32)
	// partial is the best text so far.
	partial() string
	// final finishes the utterance. offline engines decode seg, the VAD's
	// authoritative cut; streaming engines use what they were fed.
	final(seg []float32) string
	close()
}

type engineOptions struct {
	threads       int
	hotwords      string // overrides the model directory's hotwords.txt
	hotwordsScore float64
	debug         bool
}

func loadEngine(l modeldir.Layout, o engineOptions) (engine, error) {
	feat := sherpa.FeatureConfig{SampleRate: wire.SampleRate, FeatureDim: 80}
	debug := 0
	if o.debug {
		debug = 1
	}
	hotwords := l.Hotwords
	if o.hotwords != "" {
		hotwords = o.hotwords
	}
	score := l.HotwordsScore
	if o.hotwordsScore > 0 {
		score = o.hotwordsScore
	}
	if hotwords != "" && !l.Family.Transducer() {
		return nil, fmt.Errorf("hotwords need a transducer model; %s has none", l.Family)
	}

	if l.Family.Streaming() {
		c := sherpa.OnlineRecognizerConfig{FeatConfig: feat, DecodingMethod: "greedy_search"}
		c.ModelConfig.Tokens = l.Tokens
		c.ModelConfig.NumThreads = o.threads
		c.ModelConfig.Provider = "cpu"
		c.ModelConfig.Debug = debug
		switch l.Family {
		case modeldir.StreamingTransducer:
			c.ModelConfig.Transducer = sherpa.OnlineTransducerModelConfig{Encoder: l.Encoder, Decoder: l.Decoder, Joiner: l.Joiner}
		case modeldir.StreamingParaformer:
			c.ModelConfig.Paraformer = sherpa.OnlineParaformerModelConfig{Encoder: l.Encoder, Decoder: l.Decoder}
		}
		if hotwords != "" {
			// Hotword biasing only works inside beam search.
			c.DecodingMethod = "modified_beam_search"
			c.MaxActivePaths = 4
			c.HotwordsFile = hotwords
			c.HotwordsScore = float32(score)
			c.ModelConfig.ModelingUnit = l.ModelingUnit
		}
		r := sherpa.NewOnlineRecognizer(&c)
		if r == nil {
			return nil, fmt.Errorf("sherpa-onnx rejected the %s model in %s", l.Family, l.Dir)
		}
		return &onlineEngine{fam: l.Family, r: r}, nil
	}

	c := sherpa.OfflineRecognizerConfig{FeatConfig: feat, DecodingMethod: "greedy_search"}
	c.ModelConfig.Tokens = l.Tokens
	c.ModelConfig.NumThreads = o.threads
	c.ModelConfig.Provider = "cpu"
	c.ModelConfig.Debug = debug
	switch l.Family {
	case modeldir.Paraformer:
		c.ModelConfig.Paraformer.Model = l.Model
	case modeldir.SenseVoice:
		// ITN off: the linter must see 全网最低价 spoken as words, and
		// normalised digits would hide 一元 style price claims.
		c.ModelConfig.SenseVoice = sherpa.OfflineSenseVoiceModelConfig{Model: l.Model, Language: l.Language, UseInverseTextNormalization: 0}
	case modeldir.TDNNCTC:
		c.ModelConfig.Tdnn.Model = l.Model
		c.ModelConfig.ModelType = "tdnn"
		// The TDNN recipe (yesno) uses 23-dim features; a model says its
		// own dimension through its input shape, which sherpa checks.
		c.FeatConfig.FeatureDim = 23
	case modeldir.OfflineTransducer:
		c.ModelConfig.Transducer = sherpa.OfflineTransducerModelConfig{Encoder: l.Encoder, Decoder: l.Decoder, Joiner: l.Joiner}
		if hotwords != "" {
			c.DecodingMethod = "modified_beam_search"
			c.MaxActivePaths = 4
			c.HotwordsFile = hotwords
			c.HotwordsScore = float32(score)
			c.ModelConfig.ModelingUnit = l.ModelingUnit
		}
	default:
		return nil, fmt.Errorf("unsupported model family %q", l.Family)
	}
	r := sherpa.NewOfflineRecognizer(&c)
	if r == nil {
		return nil, fmt.Errorf("sherpa-onnx rejected the %s model in %s", l.Family, l.Dir)
	}
	return &offlineEngine{fam: l.Family, r: r}, nil
}

type offlineEngine struct {
	fam modeldir.Family
	r   *sherpa.OfflineRecognizer
}

func (e *offlineEngine) family() modeldir.Family { return e.fam }
func (e *offlineEngine) newSession() session     { return &offlineSession{e: e} }
func (e *offlineEngine) close()                  { sherpa.DeleteOfflineRecognizer(e.r) }

func (e *offlineEngine) recognize(samples []float32) string {
	if len(samples) == 0 {
		return ""
	}
	s := sherpa.NewOfflineStream(e.r)
	defer sherpa.DeleteOfflineStream(s)
	s.AcceptWaveform(wire.SampleRate, samples)
	e.r.Decode(s)
	res := s.GetResult()
	if res == nil {
		return ""
	}
	return res.Text
}

// offlineSession simulates streaming with a non-streaming model: partials
// re-decode everything heard so far in the utterance.
type offlineSession struct {
	e   *offlineEngine
	buf []float32
}

func (s *offlineSession) accept(samples []float32) { s.buf = append(s.buf, samples...) }
func (s *offlineSession) partial() string          { return s.e.recognize(s.buf) }
func (s *offlineSession) final(seg []float32) string {
	if len(seg) == 0 {
		seg = s.buf
	}
	return s.e.recognize(seg)
}
func (s *offlineSession) close() { s.buf = nil }

type onlineEngine struct {
	fam modeldir.Family
	r   *sherpa.OnlineRecognizer
}

func (e *onlineEngine) family() modeldir.Family { return e.fam }
func (e *onlineEngine) close()                  { sherpa.DeleteOnlineRecognizer(e.r) }
func (e *onlineEngine) newSession() session {
	return &onlineSession{e: e, s: sherpa.NewOnlineStream(e.r)}
}

type onlineSession struct {
	e *onlineEngine
	s *sherpa.OnlineStream
}

func (s *onlineSession) accept(samples []float32) {
	if len(samples) == 0 {
		return
	}
	s.s.AcceptWaveform(wire.SampleRate, samples)
	for s.e.r.IsReady(s.s) {
		s.e.r.Decode(s.s)
	}
}

func (s *onlineSession) partial() string { return s.e.r.GetResult(s.s).Text }

func (s *onlineSession) final([]float32) string {
	// Trailing silence lets the model flush its right context.
	s.accept(make([]float32, wire.SampleRate*3/10))
	s.s.InputFinished()
	for s.e.r.IsReady(s.s) {
		s.e.r.Decode(s.s)
	}
	return s.e.r.GetResult(s.s).Text
}

func (s *onlineSession) close() { sherpa.DeleteOnlineStream(s.s) }

// vadOptions tune utterance cutting.
type vadOptions struct {
	threshold  float64
	minSilence float64 // seconds of silence that end an utterance
	minSpeech  float64
	maxSpeech  float64 // utterances longer than this are cut
}

const vadWindow = 512 // samples per Silero step at 16 kHz

func loadVAD(path string, o vadOptions) (*sherpa.VoiceActivityDetector, error) {
	if path == "" {
		return nil, errors.New("no VAD model given (--vad)")
	}
	if _, err := modeldir.ReadMetadata(path); err != nil {
		return nil, fmt.Errorf("VAD model %s: %w", path, err)
	}
	c := sherpa.VadModelConfig{
		SileroVad: sherpa.SileroVadModelConfig{
			Model:              path,
			Threshold:          float32(o.threshold),
			MinSilenceDuration: float32(o.minSilence),
			MinSpeechDuration:  float32(o.minSpeech),
			WindowSize:         vadWindow,
			MaxSpeechDuration:  float32(o.maxSpeech),
		},
		SampleRate: wire.SampleRate,
		NumThreads: 1,
		Provider:   "cpu",
	}
	v := sherpa.NewVoiceActivityDetector(&c, float32(o.maxSpeech+30))
	if v == nil {
		return nil, fmt.Errorf("sherpa-onnx rejected the VAD model %s", path)
	}
	return v, nil
}
