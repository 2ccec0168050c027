// Command cunbo-speech is the box's speech worker: Silero VAD cuts
// microphone audio into utterances and a sherpa-onnx recogniser turns each
// into timed text. It is a separate process because a malformed model can
// crash the library, and the stream must never go down with it.
//
//	cunbo-speech --vad silero_vad.onnx [--model DIR] --wav FILE
//	    prints one JSON line per utterance: {"start":0.42,"end":3.9,"text":"…"}
//	cunbo-speech --vad silero_vad.onnx [--model DIR] --pipe
//	    speaks the speech/wire protocol on stdin/stdout (see that package)
//
// Exit status: 0 done, 2 bad usage or VAD, 3 model failed to load, 1 I/O.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/cunbo/cunbo/speech/modeldir"
	"github.com/cunbo/cunbo/speech/wire"
)

const (
	exitOK    = 0
	exitIO    = 1
	exitUsage = 2
	exitModel = 3
)

type options struct {
	vadPath, modelDir, wavPath string
	pipe                       bool
	vad                        vadOptions
	engine                     engineOptions
	partialEvery               float64
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cunbo-speech", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.vadPath, "vad", "", "Silero VAD model `file` (silero_vad.onnx)")
	fs.StringVar(&o.modelDir, "model", "", "recogniser model `directory`; without it segments carry no text")
	fs.StringVar(&o.wavPath, "wav", "", "recognise this WAV `file` and print JSON lines")
	fs.BoolVar(&o.pipe, "pipe", false, "speak the speech/wire protocol on stdin/stdout")
	fs.IntVar(&o.engine.threads, "threads", 2, "recogniser threads")
	fs.StringVar(&o.engine.hotwords, "hotwords", "", "hotwords `file` (transducer models only; default: hotwords.txt in the model directory)")
	fs.Float64Var(&o.engine.hotwordsScore, "hotwords-score", 0, "hotword boost (default from model.json, else 1.5)")
	fs.BoolVar(&o.engine.debug, "debug", false, "let sherpa-onnx print model details")
	fs.Float64Var(&o.vad.threshold, "vad-threshold", 0.5, "speech probability threshold")
	fs.Float64Var(&o.vad.minSilence, "min-silence", 0.3, "`seconds` of silence that end an utterance")
	fs.Float64Var(&o.vad.minSpeech, "min-speech", 0.25, "shortest utterance in `seconds`")
	fs.Float64Var(&o.vad.maxSpeech, "max-speech", 8, "utterances longer than this many `seconds` are cut")
	fs.Float64Var(&o.partialEvery, "partial-every", 0.8, "with --pipe, `seconds` of speech between partial results (0: finals only)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if !o.engine.debug {
		// A crash inside the library should leave its own message as the
		// last words on stderr for the supervisor, not pages of goroutines.
		debug.SetTraceback("none")
	}
	if o.pipe == (o.wavPath != "") {
		fmt.Fprintln(stderr, "cunbo-speech: give exactly one of --wav FILE or --pipe")
		fs.Usage()
		return exitUsage
	}
	if o.vad.maxSpeech <= o.vad.minSpeech || o.vad.minSilence <= 0 || o.partialEvery < 0 || o.engine.threads < 1 {
		fmt.Fprintln(stderr, "cunbo-speech: bad VAD or thread settings")
		return exitUsage
	}

	var out *wire.Writer
	if o.pipe {
		out = wire.NewWriter(stdout)
	}
	fail := func(code int, family string, err error) int {
		log.Error("cannot start", "err", err)
		if out != nil {
			_ = out.WriteJSON(wire.TypeHello, wire.Hello{Family: family, Loaded: false, Error: err.Error()})
		}
		return code
	}

	vad, err := loadVAD(o.vadPath, o.vad)
	if err != nil {
		return fail(exitUsage, "", err)
	}
	var eng engine
	if o.modelDir != "" {
		layout, err := modeldir.Detect(o.modelDir)
		if err != nil {
			return fail(exitModel, "", err)
		}
		if err := layout.Validate(); err != nil {
			return fail(exitModel, string(layout.Family), err)
		}
		log.Info("loading model", "family", layout.Family, "dir", layout.Dir)
		eng, err = loadEngine(layout, o.engine)
		if err != nil {
			return fail(exitModel, string(layout.Family), err)
		}
		defer eng.close()
	}

	p := &pipeline{vad: vad, eng: eng, clock: &clock{}}
	if o.wavPath != "" {
		return runWAV(p, o.wavPath, stdout, log)
	}
	family := ""
	if eng != nil {
		family = string(eng.family())
	}
	if err := out.WriteJSON(wire.TypeHello, wire.Hello{Family: family, Loaded: true}); err != nil {
		return exitIO
	}
	p.partialEvery = int(o.partialEvery * wire.SampleRate)
	return runPipe(p, stdin, out, log)
}

type jsonSegment struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
}

func runWAV(p *pipeline, path string, stdout io.Writer, log *slog.Logger) int {
	samples, err := readWAV(path)
	if err != nil {
		log.Error("reading WAV", "err", err)
		return exitUsage
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	var werr error
	p.emit = func(s wire.Segment) {
		if s.Final && werr == nil {
			werr = enc.Encode(jsonSegment{Start: s.Start, End: s.End, Text: s.Text})
		}
	}
	p.clock.add(0, len(samples))
	p.accept(samples)
	p.flush()
	if werr != nil {
		log.Error("writing results", "err", werr)
		return exitIO
	}
	return exitOK
}

// chunk is PCM from the box waiting for the recogniser.
type chunk struct {
	pts     int64
	samples []int16
}

// queueChunks bounds audio waiting for a busy recogniser (~10 s at the
// box's 20 ms chunks); beyond it audio is dropped here rather than stalling
// stdin, so pings are always answered.
const queueChunks = 512

func runPipe(p *pipeline, stdin io.Reader, out *wire.Writer, log *slog.Logger) int {
	var werr error
	p.emit = func(s wire.Segment) {
		if werr == nil {
			werr = out.WriteJSON(wire.TypeSegment, s)
		}
	}
	queue := make(chan chunk, queueChunks)
	readErr := make(chan error, 1)
	go func() {
		defer close(queue)
		r := wire.NewReader(stdin)
		dropped := 0
		for {
			f, err := r.Next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readErr <- err
				return
			}
			switch f.Type {
			case wire.TypePCM:
				pts, samples, err := wire.DecodePCM(f.Payload, nil)
				if err != nil {
					readErr <- err
					return
				}
				select {
				case queue <- chunk{pts: int64(pts), samples: samples}:
				default:
					dropped += len(samples)
					log.Warn("recogniser behind, dropping audio", "dropped_samples", dropped)
				}
			case wire.TypePing:
				if err := wire.CheckToken(f.Payload); err != nil {
					readErr <- err
					return
				}
				if err := out.WriteFrame(wire.TypePong, f.Payload); err != nil {
					readErr <- err
					return
				}
			}
		}
	}()

	buf := make([]float32, 0, 4096)
	for c := range queue {
		p.clock.add(durationOf(c.pts), len(c.samples))
		buf = buf[:0]
		for _, s := range c.samples {
			buf = append(buf, float32(s)/32768)
		}
		p.accept(buf)
		if werr != nil {
			log.Error("writing segments", "err", werr)
			return exitIO
		}
	}
	p.flush()
	if err := <-readErr; err != nil {
		log.Error("reading from the box", "err", err)
		return exitIO
	}
	if werr != nil {
		return exitIO
	}
	return exitOK
}
