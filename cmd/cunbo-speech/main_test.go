package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/internal/sharedtest"
	"github.com/cunbo/cunbo/speech/wire"
)

const scriptedText = "今天的辣椒酱全网最低价"

// sharedTestdata is ../shared/testdata (see internal/sharedtest).
func sharedTestdata(t testing.TB) string { return sharedtest.Dir(t) }

// TestMain removes the speech worker the tests built.
func TestMain(m *testing.M) { os.Exit(sharedtest.Main(m)) }

func vadModel(t testing.TB) string {
	return filepath.Join(sharedTestdata(t), "models", "silero-vad", "silero_vad.onnx")
}

func sox(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("sox", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("sox %v: %v\n%s", args, err, out)
	}
	return string(out)
}

type segment struct {
	Start, End float64
	Text       string
}

func runWAVMode(t *testing.T, wav string, extra ...string) []segment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"--vad", vadModel(t), "--wav", wav}, extra...)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, sharedtest.SpeechWorker(t), args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cunbo-speech %v: %v\n%s", args, err, stderr.String())
	}
	var segs []segment
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var s segment
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("bad output line %q: %v", sc.Text(), err)
		}
		segs = append(segs, s)
	}
	return segs
}

// soxSpeechBounds is the reference the VAD is checked against: where sox's
// silence effect finds the first and last 50 ms above 5% of the normalised
// peak (after an 80 Hz high-pass to ignore hum).
func soxSpeechBounds(t *testing.T, wav string) (start, end float64) {
	t.Helper()
	total := soxLength(t, sox(t, wav, "-n", "stat"))
	lead := soxLength(t, sox(t, wav, "-n", "highpass", "80", "norm", "silence", "1", "0.05", "5%", "stat"))
	end = soxLength(t, sox(t, wav, "-n", "highpass", "80", "norm", "reverse", "silence", "1", "0.05", "5%", "stat"))
	return total - lead, end
}

func soxLength(t *testing.T, stat string) float64 {
	for _, line := range strings.Split(stat, "\n") {
		if strings.HasPrefix(line, "Length (seconds):") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Length (seconds):")), 64)
			if err == nil {
				return v
			}
		}
	}
	t.Fatalf("no length in sox stat output:\n%s", stat)
	return 0
}

// The clips are padded with a second of digital silence each side: the real
// microphone stream never ends right after a word, and at end of file the
// VAD can only close the utterance at the last sample.
func TestVADFindsSpeechWhereItIs(t *testing.T) {
	td := sharedTestdata(t)
	for _, clip := range []string{"BAC009S0764W0121.wav", "BAC009S0764W0122.wav", "tts-lajiao-zuidi.wav"} {
		t.Run(clip, func(t *testing.T) {
			padded := filepath.Join(t.TempDir(), "padded.wav")
			sox(t, filepath.Join(td, "speech", clip), padded, "pad", "1", "1")
			wantStart, wantEnd := soxSpeechBounds(t, padded)
			segs := runWAVMode(t, padded)
			if len(segs) != 1 {
				t.Fatalf("got %d segments %+v, want 1 utterance", len(segs), segs)
			}
			s := segs[0]
			t.Logf("VAD %.3f–%.3f s, sox %.3f–%.3f s", s.Start, s.End, wantStart, wantEnd)
			if math.Abs(s.Start-wantStart) > 0.3 || math.Abs(s.End-wantEnd) > 0.3 {
				t.Fatalf("VAD %.3f–%.3f s, sox says %.3f–%.3f s: off by more than 300 ms", s.Start, s.End, wantStart, wantEnd)
			}
			if s.Text != "" {
				t.Fatalf("text %q without a model", s.Text)
			}
		})
	}
}

func TestVADIgnoresSilenceAndTone(t *testing.T) {
	dir := t.TempDir()
	tests := map[string][]string{
		"silence":     {"-n", "-r", "16000", "-c", "1", "-b", "16", filepath.Join(dir, "silence.wav"), "trim", "0", "5"},
		"1kHz tone":   {"-n", "-r", "16000", "-c", "1", "-b", "16", filepath.Join(dir, "1kHz tone.wav"), "synth", "5", "sine", "1000", "vol", "0.5"},
		"white noise": {"-n", "-r", "16000", "-c", "1", "-b", "16", filepath.Join(dir, "white noise.wav"), "synth", "5", "whitenoise", "vol", "0.05"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			sox(t, args...)
			if segs := runWAVMode(t, filepath.Join(dir, name+".wav")); len(segs) != 0 {
				t.Fatalf("found speech in %s: %+v", name, segs)
			}
		})
	}
}

// TestScriptedCTCPlumbingWAV checks plumbing, not recognition accuracy: the
// scripted model ignores the audio and always emits the same sentence. It
// proves audio → VAD → features → OfflineRecognizer → text → JSON works.
func TestScriptedCTCPlumbingWAV(t *testing.T) {
	td := sharedTestdata(t)
	segs := runWAVMode(t, filepath.Join(td, "speech", "tts-lajiao-zuidi.wav"), "--model", filepath.Join(td, "models", "scripted-ctc"))
	if len(segs) != 1 || segs[0].Text != scriptedText {
		t.Fatalf("got %+v, want one segment %q", segs, scriptedText)
	}
}

// A 48 kHz stereo WAV is resampled on the way in and finds the same speech.
func TestWAVOtherFormats(t *testing.T) {
	td := sharedTestdata(t)
	stereo := filepath.Join(t.TempDir(), "stereo48k.wav")
	sox(t, filepath.Join(td, "speech", "BAC009S0764W0121.wav"), "-r", "48000", "-c", "2", stereo, "pad", "1", "1")
	segs := runWAVMode(t, stereo)
	if len(segs) != 1 || math.Abs(segs[0].Start-1.5) > 0.3 {
		t.Fatalf("got %+v, want one utterance starting near 1.5 s", segs)
	}
}

func TestBadInvocations(t *testing.T) {
	td := sharedTestdata(t)
	notWAV := filepath.Join(t.TempDir(), "x.wav")
	os.WriteFile(notWAV, []byte("RIFF\x04\x00\x00\x00WAVE"), 0o644)
	garbage := filepath.Join(t.TempDir(), "garbage.onnx")
	os.WriteFile(garbage, []byte("not a model"), 0o644)
	wav := filepath.Join(td, "speech", "tts-lajiao-zuidi.wav")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no mode", []string{"--vad", vadModel(t)}, exitUsage},
		{"both modes", []string{"--vad", vadModel(t), "--pipe", "--wav", wav}, exitUsage},
		{"no vad", []string{"--wav", wav}, exitUsage},
		{"garbage vad", []string{"--vad", garbage, "--wav", wav}, exitUsage},
		{"truncated wav", []string{"--vad", vadModel(t), "--wav", notWAV}, exitUsage},
		{"missing model dir", []string{"--vad", vadModel(t), "--model", filepath.Join(t.TempDir(), "none"), "--wav", wav}, exitModel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(sharedtest.SpeechWorker(t), tc.args...)
			out, err := cmd.CombinedOutput()
			if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != tc.code {
				t.Fatalf("exit %v (%v), want %d\n%s", cmd.ProcessState, err, tc.code, out)
			}
		})
	}
}

// TestScriptedCTCPlumbingPipe drives --pipe directly (plumbing, not
// accuracy): hello, ping/pong, and timestamps carried onto the pipeline
// clock.
func TestScriptedCTCPlumbingPipe(t *testing.T) {
	td := sharedTestdata(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sharedtest.SpeechWorker(t), "--vad", vadModel(t), "--model", filepath.Join(td, "models", "scripted-ctc"), "--pipe")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(stdout)
	f, err := r.Next()
	if err != nil || f.Type != wire.TypeHello {
		t.Fatalf("first frame %v %v", f.Type, err)
	}
	if h, _ := wire.DecodeHello(f.Payload); !h.Loaded || h.Family != "tdnn-ctc" {
		t.Fatalf("hello %+v", h)
	}

	samples, err := readWAV(filepath.Join(td, "speech", "tts-lajiao-zuidi.wav"))
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, 0, len(samples)+2*wire.SampleRate)
	pcm = append(pcm, make([]int16, wire.SampleRate)...)
	for _, s := range samples {
		pcm = append(pcm, int16(s*32767))
	}
	pcm = append(pcm, make([]int16, wire.SampleRate)...)
	w := wire.NewWriter(stdin)
	base := 100 * time.Second // the pipeline has been running a while
	go func() {
		defer stdin.Close()
		if err := w.WriteFrame(wire.TypePing, []byte("p1")); err != nil {
			return
		}
		const step = 320 // 20 ms chunks, as the box sends
		for i := 0; i < len(pcm); i += step {
			pts := base + time.Duration(i)*time.Second/wire.SampleRate
			if err := w.WriteRaw(wire.AppendPCM(nil, pts, pcm[i:min(i+step, len(pcm))])); err != nil {
				return
			}
		}
	}()

	var final *wire.Segment
	gotPong := false
	for {
		f, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch f.Type {
		case wire.TypePong:
			gotPong = string(f.Payload) == "p1"
		case wire.TypeSegment:
			s, err := wire.DecodeSegment(f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if s.Final {
				final = &s
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("worker: %v\n%s", err, stderr.String())
	}
	if !gotPong {
		t.Error("no pong")
	}
	if final == nil || final.Text != scriptedText {
		t.Fatalf("final segment %+v, want %q", final, scriptedText)
	}
	if final.Start < 100.7 || final.Start > 101.3 || final.End < 105 || final.End > 106.2 {
		t.Fatalf("segment %.3f–%.3f s is not on the pipeline clock (speech at ~101–105.7 s)", final.Start, final.End)
	}
}

// BenchmarkVADRealTimeFactor runs Silero VAD over the real clips in process;
// the realtime-factor metric is compute seconds per audio second.
func BenchmarkVADRealTimeFactor(b *testing.B) {
	td := sharedTestdata(b)
	var audio []float32
	for _, clip := range []string{"BAC009S0764W0121.wav", "BAC009S0764W0122.wav", "tts-lajiao-zuidi.wav"} {
		s, err := readWAV(filepath.Join(td, "speech", clip))
		if err != nil {
			b.Fatal(err)
		}
		audio = append(audio, s...)
	}
	vad, err := loadVAD(vadModel(b), vadOptions{threshold: 0.5, minSilence: 0.3, minSpeech: 0.25, maxSpeech: 8})
	if err != nil {
		b.Fatal(err)
	}
	p := &pipeline{vad: vad, clock: &clock{}, emit: func(wire.Segment) {}}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		p.accept(audio)
		p.flush()
		vad.Reset()
	}
	seconds := float64(len(audio)) / wire.SampleRate
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/seconds, "realtime-factor")
}

// BenchmarkWorkerRSSVADOnly measures the worker's peak resident memory
// (VmHWM) running VAD only over --pipe with 20 s of speech.
func BenchmarkWorkerRSSVADOnly(b *testing.B) {
	td := sharedTestdata(b)
	samples, err := readWAV(filepath.Join(td, "speech", "BAC009S0764W0121.wav"))
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([]int16, len(samples))
	for i, s := range samples {
		pcm[i] = int16(s * 32767)
	}
	var peak float64
	for n := 0; n < b.N; n++ {
		cmd := exec.Command(sharedtest.SpeechWorker(b), "--vad", vadModel(b), "--pipe")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		go io.Copy(io.Discard, stdout)
		w := wire.NewWriter(stdin)
		for rep := 0; rep < 5; rep++ {
			for i := 0; i < len(pcm); i += 320 {
				pts := time.Duration(rep*len(pcm)+i) * time.Second / wire.SampleRate
				w.WriteRaw(wire.AppendPCM(nil, pts, pcm[i:min(i+320, len(pcm))]))
			}
		}
		hwm := vmHWM(b, cmd.Process.Pid)
		stdin.Close()
		cmd.Wait()
		peak = math.Max(peak, hwm)
	}
	b.ReportMetric(peak, "peak-RSS-MB")
}

func vmHWM(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM")
	return 0
}
