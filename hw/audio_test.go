package hw

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/internal/sharedtest"
)

// sharedTestdata is ../shared/testdata (see internal/sharedtest).
func sharedTestdata(t testing.TB) string { return sharedtest.Dir(t) }

// wavBytes builds a WAV file from chunks; fmtChunk builds a fmt body.
func wavBytes(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := append([]byte("RIFF"), le32(uint32(4+len(body)))...)
	out = append(out, "WAVE"...)
	return append(out, body...)
}

func chunk(id string, body []byte) []byte {
	c := append([]byte(id), le32(uint32(len(body)))...)
	c = append(c, body...)
	if len(body)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

func fmtBody(tag uint16, channels, rate, bits int) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b[0:], tag)
	binary.LittleEndian.PutUint16(b[2:], uint16(channels))
	binary.LittleEndian.PutUint32(b[4:], uint32(rate))
	binary.LittleEndian.PutUint32(b[8:], uint32(rate*channels*bits/8))
	binary.LittleEndian.PutUint16(b[12:], uint16(channels*bits/8))
	binary.LittleEndian.PutUint16(b[14:], uint16(bits))
	return b
}

func extensibleBody(channels, rate int, sub uint16) []byte {
	b := fmtBody(wavFormatExtensible, channels, rate, 16)
	ext := make([]byte, 24)
	binary.LittleEndian.PutUint16(ext[0:], 22)
	binary.LittleEndian.PutUint16(ext[2:], 16)
	binary.LittleEndian.PutUint16(ext[8:], sub)
	return append(b, ext...)
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func TestParseWAV(t *testing.T) {
	pcm := make([]byte, 400)
	streamed := wavBytes(chunk("fmt ", fmtBody(1, 1, 16000, 16)))
	streamed = append(streamed, "data"...)
	streamed = append(streamed, le32(0xFFFFFFFF)...)
	streamed = append(streamed, pcm[:101]...) // odd tail byte trimmed
	cases := []struct {
		name     string
		file     []byte
		want     AudioFormat
		dataSize int64
		err      string
	}{
		{"plain mono", wavBytes(chunk("fmt ", fmtBody(1, 1, 16000, 16)), chunk("data", pcm)), AudioFormat{16000, 1}, 400, ""},
		{"stereo with LIST and odd chunk", wavBytes(chunk("LIST", []byte("abc")), chunk("fmt ", fmtBody(1, 2, 48000, 16)), chunk("data", pcm)), AudioFormat{48000, 2}, 400, ""},
		{"extensible PCM", wavBytes(chunk("fmt ", extensibleBody(2, 44100, 1)), chunk("data", pcm)), AudioFormat{44100, 2}, 400, ""},
		{"streamed size placeholder", streamed, AudioFormat{16000, 1}, 100, ""},
		{"extensible float", wavBytes(chunk("fmt ", extensibleBody(2, 44100, 3)), chunk("data", pcm)), AudioFormat{}, 0, "not PCM"},
		{"8-bit", wavBytes(chunk("fmt ", fmtBody(1, 1, 8000, 8)), chunk("data", pcm)), AudioFormat{}, 0, "8-bit"},
		{"float", wavBytes(chunk("fmt ", fmtBody(3, 1, 8000, 32)), chunk("data", pcm)), AudioFormat{}, 0, "not PCM"},
		{"no data", wavBytes(chunk("fmt ", fmtBody(1, 1, 16000, 16))), AudioFormat{}, 0, "no data"},
		{"empty data", wavBytes(chunk("fmt ", fmtBody(1, 1, 16000, 16)), chunk("data", nil)), AudioFormat{}, 0, "no samples"},
		{"data before fmt", wavBytes(chunk("data", pcm), chunk("fmt ", fmtBody(1, 1, 16000, 16))), AudioFormat{}, 0, "before fmt"},
		{"no fmt", wavBytes(chunk("LIST", pcm)), AudioFormat{}, 0, "no fmt"},
		{"not RIFF", []byte("ID3\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), AudioFormat{}, 0, "signature"},
		{"too short", []byte("RIFF"), AudioFormat{}, 0, "short"},
		{"zero channels", wavBytes(chunk("fmt ", fmtBody(1, 0, 16000, 16)), chunk("data", pcm)), AudioFormat{}, 0, "channels"},
		{"silly rate", wavBytes(chunk("fmt ", fmtBody(1, 1, 100, 16)), chunk("data", pcm)), AudioFormat{}, 0, "sample rate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := ParseWAV(bytes.NewReader(c.file), int64(len(c.file)))
			if c.err != "" {
				if !errors.Is(err, ErrBadWAV) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, want ErrBadWAV mentioning %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != c.want || info.DataSize != c.dataSize {
				t.Errorf("got %+v, want %+v with %d data bytes", info, c.want, c.dataSize)
			}
		})
	}
}

func TestParseWAVSharedSpeech(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sharedTestdata(t), "speech", "*.wav"))
	if len(files) == 0 {
		t.Fatal("no speech WAVs in shared test data")
	}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		info, err := ParseWAV(f, st.Size())
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		secs := float64(info.DataSize) / 2 / 16000
		if info.Format != (AudioFormat{16000, 1}) || secs < 4 || secs > 5 {
			t.Errorf("%s: %+v, %.2f s; want 16 kHz mono of 4-5 s", filepath.Base(path), info.Format, secs)
		}
	}
}

func FuzzWAVHeader(f *testing.F) {
	pcm := make([]byte, 64)
	f.Add(wavBytes(chunk("fmt ", fmtBody(1, 1, 16000, 16)), chunk("data", pcm)))
	f.Add(wavBytes(chunk("fmt ", extensibleBody(2, 48000, 1)), chunk("data", pcm)))
	f.Add(wavBytes(chunk("LIST", []byte("x")), chunk("fmt ", fmtBody(1, 2, 44100, 16)), chunk("data", pcm[:3])))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseWAV(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrBadWAV) {
				t.Fatalf("error %v does not wrap ErrBadWAV", err)
			}
			return
		}
		frame := int64(2 * info.Format.Channels)
		if info.DataSize <= 0 || info.DataSize%frame != 0 || info.DataOffset+info.DataSize > int64(len(data)) {
			t.Fatalf("bad data span %+v in %d bytes", info, len(data))
		}
	})
}

func TestWAVLoopLoopsAtRealTime(t *testing.T) {
	// 0.1 s of a ramp at 8 kHz stereo: reading 0.3 s must wrap twice.
	const frames = 800
	pcm := make([]byte, 0, frames*4)
	for i := 0; i < frames; i++ {
		pcm = binary.LittleEndian.AppendUint16(pcm, uint16(i))
		pcm = binary.LittleEndian.AppendUint16(pcm, uint16(-i))
	}
	path := filepath.Join(t.TempDir(), "ramp.wav")
	if err := os.WriteFile(path, wavBytes(chunk("fmt ", fmtBody(1, 2, 8000, 16)), chunk("data", pcm)), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := NewWAVLoop(WAVLoopConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []int16
	buf := make([]int16, 333) // odd size: only whole frames come back
	start := time.Now()
	for len(got) < 3*frames*2 {
		n, err := src.ReadPCM(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n%2 != 0 {
			t.Fatalf("read %d samples: not whole stereo frames", n)
		}
		got = append(got, buf[:n]...)
	}
	if took := time.Since(start); took < 290*time.Millisecond {
		t.Errorf("0.3 s of audio in %v: faster than real time", took)
	}
	for i := 0; i < 3*frames; i++ {
		l, r := got[2*i], got[2*i+1]
		if l != int16(i%frames) || r != -int16(i%frames) {
			t.Fatalf("frame %d = (%d,%d), want (%d,%d)", i, l, r, i%frames, -(i % frames))
		}
	}
}

func TestWAVLoopSharedSpeech(t *testing.T) {
	path := filepath.Join(sharedTestdata(t), "speech", "tts-lajiao-zuidi.wav")
	src, err := NewWAVLoop(WAVLoopConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if src.Format() != (AudioFormat{16000, 1}) {
		t.Fatalf("format %+v", src.Format())
	}
	buf := make([]int16, 320)
	if _, err := src.ReadPCM(context.Background(), buf); err != nil {
		t.Fatal(err)
	}
	if _, err := NewWAVLoop(WAVLoopConfig{Path: filepath.Join(sharedTestdata(t), "README.md")}); !errors.Is(err, ErrBadWAV) {
		t.Errorf("README accepted as WAV: %v", err)
	}
}

func TestToneFrequencyAndPacing(t *testing.T) {
	tone, err := NewTone(ToneConfig{Format: AudioFormat{48000, 2}, Frequency: 440})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var left []int16
	buf := make([]int16, 4096)
	start := time.Now()
	for len(left) < 24000 { // 0.5 s
		n, err := tone.ReadPCM(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i += 2 {
			if buf[i] != buf[i+1] {
				t.Fatal("channels differ")
			}
			left = append(left, buf[i])
		}
	}
	if took := time.Since(start); took < 490*time.Millisecond {
		t.Errorf("0.5 s of tone in %v", took)
	}
	crossings, peak := 0, 0.0
	for i := 1; i < 24000; i++ {
		if left[i-1] < 0 && left[i] >= 0 {
			crossings++
		}
		peak = math.Max(peak, math.Abs(float64(left[i])))
	}
	if crossings < 218 || crossings > 222 {
		t.Errorf("%d rising zero crossings in 0.5 s, want 220", crossings)
	}
	if peak < 0.24*32767 || peak > 0.26*32767 {
		t.Errorf("peak %v, want 0.25 full scale", peak)
	}
	for _, bad := range []ToneConfig{
		{Format: AudioFormat{48000, 0}},
		{Format: AudioFormat{48000, 1}, Frequency: 30000},
		{Format: AudioFormat{48000, 1}, Level: 2},
	} {
		if _, err := NewTone(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestALSA(t *testing.T) {
	needFFmpeg(t)
	t.Run("reads capture pipe", func(t *testing.T) {
		// The fake checks it was asked for ALSA capture and plays a tone.
		script := writeScript(t, `
echo "$@" > "$(dirname "$0")/args"
exec ffmpeg -hide_banner -loglevel error -re -f lavfi -i sine=frequency=1000:sample_rate=44100 -ac 2 -f s16le pipe:1
`)
		mic, err := NewALSA(ALSAConfig{Device: "hw:2,0", Format: AudioFormat{44100, 2}, FFmpeg: script})
		if err != nil {
			t.Fatal(err)
		}
		defer mic.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		buf := make([]int16, 1001)
		total, loud := 0, false
		for total < 44100/5*2 {
			n, err := mic.ReadPCM(ctx, buf)
			if err != nil {
				t.Fatal(err)
			}
			if n%2 != 0 {
				t.Fatalf("%d samples: not whole frames", n)
			}
			for _, v := range buf[:n] {
				loud = loud || v > 1000
			}
			total += n
		}
		if !loud {
			t.Error("captured only silence")
		}
		args, _ := os.ReadFile(filepath.Join(filepath.Dir(script), "args"))
		for _, want := range []string{"-f alsa", "-i hw:2,0", "-ar 44100", "-ac 2", "-f s16le"} {
			if !strings.Contains(string(args), want) {
				t.Errorf("args %q lack %q", args, want)
			}
		}
	})
	t.Run("missing card", func(t *testing.T) {
		script := writeScript(t, "echo '[alsa @ 0x1] cannot open audio device hw:9 (No such file or directory)' >&2\nexit 1\n")
		mic, err := NewALSA(ALSAConfig{Device: "hw:9", Format: AudioFormat{48000, 1}, FFmpeg: script})
		if err != nil {
			t.Fatal(err)
		}
		defer mic.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := mic.ReadPCM(ctx, make([]int16, 100)); !errors.Is(err, ErrNoDevice) {
			t.Fatalf("got %v, want ErrNoDevice", err)
		}
	})
}
