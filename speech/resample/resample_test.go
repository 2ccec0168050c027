package resample

import (
	"math"
	"testing"
)

// tone makes interleaved S16 with the same sine on every channel.
func tone(rate, channels int, freq, amp float64, seconds float64) []int16 {
	n := int(float64(rate) * seconds)
	out := make([]int16, n*channels)
	for i := 0; i < n; i++ {
		v := int16(amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
		for c := 0; c < channels; c++ {
			out[i*channels+c] = v
		}
	}
	return out
}

// level returns the amplitude of freq in x (a single-bin DFT), skipping the
// edges where the filter sees zeros.
func level(x []int16, rate int, freq float64) float64 {
	skip := len(x) / 10
	x = x[skip : len(x)-skip]
	var re, im float64
	for i, s := range x {
		ph := 2 * math.Pi * freq * float64(i) / float64(rate)
		re += float64(s) * math.Cos(ph)
		im += float64(s) * math.Sin(ph)
	}
	return 2 * math.Hypot(re, im) / float64(len(x)) / 32767
}

func TestPassbandAndStopband(t *testing.T) {
	tests := []struct {
		name             string
		inRate, ch       int
		freq             float64
		wantMin, wantMax float64 // output amplitude for input amplitude 0.5
	}{
		{"48k stereo 1kHz passes", 48000, 2, 1000, 0.49, 0.51},
		{"44.1k mono 3kHz passes", 44100, 1, 3000, 0.49, 0.51},
		{"48k stereo 6.5kHz passes", 48000, 2, 6500, 0.47, 0.52},
		{"48k 12kHz is rejected", 48000, 2, 12000, 0, 0.0005},
		{"44.1k 15kHz is rejected", 44100, 1, 15000, 0, 0.0005},
		{"16k mono passes through", 16000, 1, 1000, 0.499, 0.501},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.inRate, tc.ch, 16000)
			if err != nil {
				t.Fatal(err)
			}
			out := r.Process(nil, tone(tc.inRate, tc.ch, tc.freq, 0.5, 1))
			if want := 16000; abs(len(out)-want) > 64 {
				t.Fatalf("got %d samples for 1 s, want about %d", len(out), want)
			}
			// An aliased tone would land at |freq - k·16k|; measure there.
			measured := tc.freq
			for measured > 8000 {
				measured = math.Abs(measured - 16000)
			}
			got := level(out, 16000, measured)
			if got < tc.wantMin || got > tc.wantMax {
				t.Fatalf("amplitude at %.0f Hz = %.5f, want in [%v, %v]", measured, got, tc.wantMin, tc.wantMax)
			}
		})
	}
}

func TestChunkingDoesNotChangeOutput(t *testing.T) {
	in := tone(44100, 2, 440, 0.8, 0.7)
	whole, _ := New(44100, 2, 16000)
	want := whole.Process(nil, in)
	for _, chunk := range []int{2, 94, 882, 4410} {
		r, _ := New(44100, 2, 16000)
		var got []int16
		for i := 0; i < len(in); i += chunk {
			got = r.Process(got, in[i:min(i+chunk, len(in))])
		}
		if len(got) != len(want) {
			t.Fatalf("chunk %d: %d samples, want %d", chunk, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("chunk %d: sample %d = %d, want %d", chunk, i, got[i], want[i])
			}
		}
	}
}

// The filter is centred, so output k must line up with input time k/16000:
// a click at input time 0.5 s appears at output sample 8000.
func TestZeroPhase(t *testing.T) {
	in := make([]int16, 48000*2)
	in[24000*2], in[24000*2+1] = 30000, 30000
	r, _ := New(48000, 2, 16000)
	out := r.Process(nil, in)
	peak := 0
	for i := range out {
		if abs(int(out[i])) > abs(int(out[peak])) {
			peak = i
		}
	}
	if peak != 8000 {
		t.Fatalf("click at output %d, want 8000", peak)
	}
	if r.Produced() != int64(len(out)) {
		t.Fatalf("Produced %d, len %d", r.Produced(), len(out))
	}
}

func TestFullScaleClips(t *testing.T) {
	r, _ := New(48000, 1, 16000)
	in := make([]int16, 4800)
	for i := range in {
		if (i/24)%2 == 0 {
			in[i] = 32767
		} else {
			in[i] = -32768
		}
	}
	_ = r.Process(nil, in) // overshoot must saturate, not wrap or panic
}

func TestNewRejects(t *testing.T) {
	for _, c := range [][3]int{{0, 1, 16000}, {48000, 0, 16000}, {48000, 1, -1}, {48000, 99, 16000}, {1e9, 1, 16000}} {
		if _, err := New(c[0], c[1], c[2]); err == nil {
			t.Errorf("New(%v) accepted", c)
		}
	}
}

// BenchmarkResample48kStereo reports the cost of converting one second of
// 48 kHz stereo microphone audio (the box's usual input) in 20 ms chunks.
func BenchmarkResample48kStereo(b *testing.B) { benchResample(b, 48000, 2) }

// BenchmarkResample44k1Stereo is the awkward 441:160 ratio.
func BenchmarkResample44k1Stereo(b *testing.B) { benchResample(b, 44100, 2) }

func benchResample(b *testing.B, rate, ch int) {
	in := tone(rate, ch, 1000, 0.5, 1)
	chunk := rate / 50 * ch
	r, _ := New(rate, ch, 16000)
	out := make([]int16, 0, 1024)
	b.SetBytes(int64(len(in) * 2))
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := 0; i < len(in); i += chunk {
			out = r.Process(out[:0], in[i:min(i+chunk, len(in))])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e9, "realtime-factor")
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
