package speech

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/sharedtest"
	"github.com/cunbo/cunbo/speech/wire"
)

const scriptedText = "今天的辣椒酱全网最低价"

// TestMain removes the speech worker the tests built.
func TestMain(m *testing.M) { os.Exit(sharedtest.Main(m)) }

// sharedTestdata is ../shared/testdata (see internal/sharedtest).
func sharedTestdata(t testing.TB) string { return sharedtest.Dir(t) }

func scriptedConfig(t *testing.T) Config {
	td := sharedTestdata(t)
	return Config{
		WorkerPath: sharedtest.SpeechWorker(t),
		VADModel:   filepath.Join(td, "models", "silero-vad", "silero_vad.onnx"),
		ModelDir:   filepath.Join(td, "models", "scripted-ctc"),
		Input:      hw.AudioFormat{SampleRate: 48000, Channels: 2},
	}
}

// start runs a supervisor until the test ends.
func start(t *testing.T, cfg Config) *Supervisor {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sharedtest.Run(t, "Run", 10*time.Second, s.Run)
	return s
}

// waitFor polls the status until ok or the timeout.
func waitFor(t *testing.T, s *Supervisor, timeout time.Duration, what string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.Status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v still not %s: %+v", timeout, what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isOn(st Status) bool { return st.State == StateOn && st.PID != 0 }

// clip48kStereo loads a test clip as the microphone would deliver it, with
// a second of silence each side.
func clip48kStereo(t *testing.T, name string) []int16 {
	t.Helper()
	out := filepath.Join(t.TempDir(), "mic.raw")
	cmd := exec.Command("sox", filepath.Join(sharedTestdata(t), "speech", name),
		"-t", "raw", "-r", "48000", "-c", "2", "-b", "16", "-e", "signed-integer", "-L", out, "pad", "1", "1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(raw)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return pcm
}

// feed writes pcm in 20 ms chunks starting at pipeline time base.
func feed(s *Supervisor, base time.Duration, pcm []int16) {
	const chunk = 960 * 2 // 20 ms of 48 kHz stereo
	for i := 0; i < len(pcm); i += chunk {
		pts := base + time.Duration(i/2)*time.Second/48000
		s.WritePCM(pts, pcm[i:min(i+chunk, len(pcm))])
	}
}

// TestScriptedCTCPlumbingThroughSupervisor checks plumbing, not accuracy:
// the scripted model always says the same sentence. Microphone-format audio
// goes through the resampler, the wire, the worker's VAD and recogniser, and
// comes back as a caption on the pipeline clock.
func TestScriptedCTCPlumbingThroughSupervisor(t *testing.T) {
	cfg := scriptedConfig(t)
	cfg.QueueChunks = 1000
	s := start(t, cfg)
	st := waitFor(t, s, 20*time.Second, "on", isOn)
	if st.Family != "tdnn-ctc" {
		t.Fatalf("family %q", st.Family)
	}
	base := 42 * time.Second
	feed(s, base, clip48kStereo(t, "tts-lajiao-zuidi.wav"))
	timeout := time.After(20 * time.Second)
	for {
		select {
		case c := <-s.Captions():
			if !c.Final {
				continue
			}
			if c.Text != scriptedText {
				t.Fatalf("caption %q, want %q", c.Text, scriptedText)
			}
			// Speech is at 43.0–47.7 s on the pipeline clock.
			if c.Start < 42700*time.Millisecond || c.Start > 43300*time.Millisecond || c.End < 47*time.Second || c.End > 48200*time.Millisecond {
				t.Fatalf("caption at %v–%v, want about 43s–47.7s", c.Start, c.End)
			}
			if d := s.Status().DroppedSamples; d != 0 {
				t.Fatalf("dropped %d samples with a live worker", d)
			}
			return
		case <-timeout:
			t.Fatalf("no final caption; status %+v", s.Status())
		}
	}
}

func TestKilledWorkerRestartsWithin2s(t *testing.T) {
	s := start(t, scriptedConfig(t))
	first := waitFor(t, s, 20*time.Second, "on", isOn)
	killedAt := time.Now()
	if err := exec.Command("kill", "-9", strconv.Itoa(first.PID)).Run(); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, 2*time.Second, "back on with a new worker", func(st Status) bool {
		return isOn(st) && st.PID != first.PID
	})
	t.Logf("worker back after %v", time.Since(killedAt))
	if st.Restarts != 1 {
		t.Fatalf("restarts %d, want 1", st.Restarts)
	}
	// The new worker still captions.
	feed(s, 0, clip48kStereo(t, "tts-lajiao-zuidi.wav"))
	select {
	case c := <-s.Captions():
		if c.Text == "" {
			t.Fatal("empty caption")
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no caption after restart; %+v", s.Status())
	}
}

func TestLimitsApplied(t *testing.T) {
	cfg := scriptedConfig(t)
	cfg.Nice = 7
	cfg.MemoryLimit = 5 << 30
	s := start(t, cfg)
	st := waitFor(t, s, 20*time.Second, "on", isOn)
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.PID))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command name; nice is field 19.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if fields[16] != "7" {
		t.Errorf("nice %s, want 7", fields[16])
	}
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", st.PID))
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatInt(5<<30, 10)
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max address space") {
			if f := strings.Fields(line); f[3] != want || f[4] != want {
				t.Errorf("address space limit %q, want %s", line, want)
			}
			return
		}
	}
	t.Error("no address space line in /proc/PID/limits")
}

func TestCaptionsOff(t *testing.T) {
	td := sharedTestdata(t)
	vad := filepath.Join(td, "models", "silero-vad", "silero_vad.onnx")
	tests := []struct {
		name string
		cfg  func(t *testing.T) Config
		want []string
	}{
		{"no model installed", func(t *testing.T) Config {
			return Config{WorkerPath: sharedtest.SpeechWorker(t), VADModel: vad, ModelDir: t.TempDir()}
		}, []string{"字幕已关闭", "没有安装语音识别模型", "no speech model installed"}},
		{"model directory absent", func(t *testing.T) Config {
			return Config{WorkerPath: sharedtest.SpeechWorker(t), VADModel: vad, ModelDir: filepath.Join(t.TempDir(), "models")}
		}, []string{"字幕已关闭", "no speech model installed"}},
		{"worker binary missing", func(t *testing.T) Config {
			return Config{WorkerPath: filepath.Join(t.TempDir(), "cunbo-speech"), VADModel: vad, ModelDir: filepath.Join(td, "models", "scripted-ctc")}
		}, []string{"字幕已关闭", "找不到语音程序", "missing"}},
		{"VAD model missing", func(t *testing.T) Config {
			return Config{WorkerPath: sharedtest.SpeechWorker(t), VADModel: filepath.Join(t.TempDir(), "vad.onnx"), ModelDir: filepath.Join(td, "models", "scripted-ctc")}
		}, []string{"字幕已关闭", "VAD model"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.cfg(t))
			st := waitFor(t, s, 5*time.Second, "off", func(st Status) bool { return st.State == StateOff })
			for _, w := range tc.want {
				if !strings.Contains(st.Reason, w) {
					t.Errorf("reason %q lacks %q", st.Reason, w)
				}
			}
			// The audio path keeps working: audio is dropped and counted.
			feed(s, 0, make([]int16, 48000*2))
			// The resampler holds back half its filter (~20 samples).
			if got := s.Status(); got.DroppedSamples < 15950 || got.DroppedSamples > 16000 || got.PID != 0 {
				t.Errorf("after 1 s of audio: %+v, want ~16000 dropped samples and no worker", got)
			}
		})
	}
}

func TestMalformedModel(t *testing.T) {
	tokens, err := os.ReadFile(filepath.Join(sharedTestdata(t), "models", "scripted-ctc", "tokens.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		model []byte
		want  string
	}{
		// Caught by the worker's own check; it says why and exits.
		{"garbage bytes", []byte("this is a half-copied file\x00\xff"), "not an ONNX model"},
		// Well-formed protobuf that onnxruntime rejects: the library
		// aborts the worker process, which is why it is a process.
		{"valid container, unusable model", []byte("\x08\x07\x3a\x04\x0a\x02gx\x42\x04\x0a\x00\x10\x0d\x72\x12\x0a\x0amodel_type\x12\x04tdnn"), "model failed to load"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "model.onnx"), tc.model, 0o644)
			os.WriteFile(filepath.Join(dir, "tokens.txt"), tokens, 0o644)
			os.WriteFile(filepath.Join(dir, "model.json"), []byte(`{"family":"tdnn-ctc"}`), 0o644)
			cfg := scriptedConfig(t)
			cfg.ModelDir = dir
			cfg.RestartMax = 300 * time.Millisecond
			s := start(t, cfg)
			st := waitFor(t, s, 20*time.Second, "off after a retry", func(st Status) bool {
				return st.State == StateOff && st.Restarts >= 1
			})
			t.Logf("reason: %s", st.Reason)
			for _, w := range []string{"字幕已关闭", "模型加载失败", tc.want} {
				if !strings.Contains(st.Reason, w) {
					t.Errorf("reason %q lacks %q", st.Reason, w)
				}
			}
			s.WritePCM(0, make([]int16, 1920)) // still safe to feed
		})
	}
}

// A worker that says hello and then stops answering is killed and replaced.
func TestHungWorkerIsReplaced(t *testing.T) {
	script := filepath.Join(t.TempDir(), "hung-worker")
	hello := `{"family":"tdnn-ctc","loaded":true}`
	body := fmt.Sprintf("#!/bin/sh\nprintf '\\003\\000\\000\\000\\%03o%s'\nexec sleep 60\n", len(hello), hello)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := scriptedConfig(t)
	cfg.WorkerPath = script
	cfg.PingInterval = 50 * time.Millisecond
	cfg.PingTimeout = 300 * time.Millisecond
	s := start(t, cfg)
	first := waitFor(t, s, 5*time.Second, "on", isOn)
	st := waitFor(t, s, 5*time.Second, "restarted", func(st Status) bool { return st.Restarts >= 1 && st.PID != first.PID })
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", first.PID)); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", first.PID)); !strings.Contains(string(b), ") Z") {
			t.Errorf("hung worker %d still alive", first.PID)
		}
	}
	_ = st
}

// WritePCM stamps resampled chunks on the pipeline clock, re-anchors after
// a gap, and drops rather than blocks when the queue is full.
func TestWritePCMTimestampsAndDrops(t *testing.T) {
	s, err := New(Config{Input: hw.AudioFormat{SampleRate: 48000, Channels: 2}, QueueChunks: 8})
	if err != nil {
		t.Fatal(err)
	}
	s.setAccepting(true)
	chunk := make([]int16, 960*2)
	next := time.Duration(0)
	check := func(wantPTS time.Duration) int {
		t.Helper()
		f := <-s.queue
		r := wire.NewReader(strings.NewReader(string(f)))
		fr, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		pts, samples, err := wire.DecodePCM(fr.Payload, nil)
		if err != nil {
			t.Fatal(err)
		}
		if pts != wantPTS {
			t.Fatalf("chunk pts %v, want %v", pts, wantPTS)
		}
		return len(samples)
	}
	base := 10 * time.Second
	for i := 0; i < 4; i++ {
		s.WritePCM(base+time.Duration(i)*20*time.Millisecond, chunk)
	}
	for i := 0; i < 4; i++ {
		n := check(base + next)
		next += time.Duration(n) * time.Second / wire.SampleRate
	}
	// One second of audio was lost upstream.
	s.WritePCM(base+time.Second+80*time.Millisecond, chunk)
	check(base + time.Second + 80*time.Millisecond)

	for i := 0; i < 20; i++ {
		s.WritePCM(base+2*time.Second+time.Duration(i)*20*time.Millisecond, chunk)
	}
	if d := s.Status().DroppedSamples; d == 0 {
		t.Fatal("full queue dropped nothing")
	}
	if len(s.queue) != 8 {
		t.Fatalf("queue holds %d chunks, want full (8)", len(s.queue))
	}
}

// BenchmarkWritePCM is the audio path's cost per 20 ms of 48 kHz stereo.
func BenchmarkWritePCM(b *testing.B) {
	s, _ := New(Config{Input: hw.AudioFormat{SampleRate: 48000, Channels: 2}, QueueChunks: 1})
	s.setAccepting(true)
	chunk := make([]int16, 960*2)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		select {
		case <-s.queue:
		default:
		}
		s.WritePCM(time.Duration(i)*20*time.Millisecond, chunk)
	}
}
