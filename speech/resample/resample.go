// Package resample converts interleaved S16 PCM of any rate and channel
// count to mono at another rate, as the speech worker wants 16 kHz mono
// while microphones deliver 44.1 or 48 kHz stereo.
//
// It is a rational polyphase resampler: conceptually upsample by L, low-pass
// with a Kaiser-windowed sinc, downsample by M, evaluated only at the output
// instants. The filter is centred (zero phase), so output sample k sits at
// input time k·inRate/outRate: timestamps carry across unchanged, at the cost
// of half a filter length (~0.35 ms at 48 kHz) of latency.
package resample

import (
	"fmt"
	"math"
)

const (
	// zeroCrossings is how many sinc lobes the filter keeps on each side:
	// more is a sharper transition band and more work per sample.
	zeroCrossings = 16
	// kaiserBeta trades stopband rejection (~80 dB at 8) against width.
	kaiserBeta = 8.0
	// passFraction places the cutoff just below the lower Nyquist so the
	// transition band ends there and aliases stay in the stopband.
	passFraction = 0.90
	maxRate      = 384000
	maxChannels  = 16
)

// Resampler converts a continuous stream. It is not safe for concurrent use.
type Resampler struct {
	inRate, outRate, channels int
	l, m                      int64 // up and down factors
	taps                      int   // filter taps per phase
	delay                     int64 // filter centre, upsampled samples
	bank                      [][]float32

	hist      []float32 // mono input; hist[0] is input index histStart
	histStart int64
	inCount   int64 // mono input samples accepted
	outCount  int64 // output samples produced
}

// New returns a resampler from inRate with channels interleaved channels to
// outRate mono.
func New(inRate, channels, outRate int) (*Resampler, error) {
	if inRate <= 0 || outRate <= 0 || inRate > maxRate || outRate > maxRate {
		return nil, fmt.Errorf("resample: rates %d→%d Hz out of range", inRate, outRate)
	}
	if channels < 1 || channels > maxChannels {
		return nil, fmt.Errorf("resample: %d channels out of range", channels)
	}
	g := gcd(inRate, outRate)
	r := &Resampler{
		inRate: inRate, outRate: outRate, channels: channels,
		l: int64(outRate / g), m: int64(inRate / g),
	}
	r.design()
	r.Reset()
	return r, nil
}

func (r *Resampler) design() {
	l, m := float64(r.l), float64(r.m)
	// Cutoff in cycles per upsampled sample: the lower of the two Nyquists.
	fc := passFraction * 0.5 / math.Max(l, m)
	if r.l == 1 && r.m == 1 {
		r.taps, r.delay = 1, 0
		r.bank = [][]float32{{1}}
		return
	}
	// Filter length in upsampled samples, rounded up to whole phases.
	span := int(math.Ceil(2 * zeroCrossings / (2 * fc)))
	r.taps = (span + int(r.l) - 1) / int(r.l)
	k := r.taps * int(r.l)
	centre := float64(k-1) / 2
	r.delay = int64(math.Floor(centre))
	h := make([]float64, k)
	for i := range h {
		x := float64(i) - centre
		h[i] = 2 * fc * sinc(2*fc*x) * kaiser(x/(centre+1), kaiserBeta) * l
	}
	r.bank = make([][]float32, r.l)
	for p := range r.bank {
		row := make([]float32, r.taps)
		for j := range row {
			row[j] = float32(h[p+j*int(r.l)])
		}
		r.bank[p] = row
	}
}

// Reset forgets all history, as after a gap in the input.
func (r *Resampler) Reset() {
	// Zeros before the first sample let the first outputs be computed.
	r.hist = append(r.hist[:0], make([]float32, r.taps)...)
	r.histStart = -int64(r.taps)
	r.inCount, r.outCount = 0, 0
}

// InRate, OutRate and Channels describe the conversion.
func (r *Resampler) InRate() int   { return r.inRate }
func (r *Resampler) OutRate() int  { return r.outRate }
func (r *Resampler) Channels() int { return r.channels }

// Produced is the number of output samples produced since Reset. Output
// sample k corresponds to input time k/OutRate seconds after the first input
// sample.
func (r *Resampler) Produced() int64 { return r.outCount }

// Process appends to dst the output that src (whole interleaved frames; a
// trailing partial frame is ignored) makes available, and returns it.
func (r *Resampler) Process(dst, src []int16) []int16 {
	ch := r.channels
	frames := len(src) / ch
	scale := float32(1) / (32768 * float32(ch))
	for i := 0; i < frames; i++ {
		var sum float32
		for c := 0; c < ch; c++ {
			sum += float32(src[i*ch+c])
		}
		r.hist = append(r.hist, sum*scale)
	}
	r.inCount += int64(frames)

	for {
		pos := r.outCount*r.m + r.delay
		q, phase := pos/r.l, pos%r.l
		if q >= r.inCount {
			break
		}
		// y = Σ_j bank[phase][j] · x[q-j]
		base := int(q - r.histStart)
		row := r.bank[phase]
		x := r.hist[base-r.taps+1 : base+1]
		var acc float32
		n := len(row)
		for j := 0; j < n; j++ {
			acc += row[j] * x[n-1-j]
		}
		dst = append(dst, toS16(acc))
		r.outCount++
	}

	// Keep only what the next output can still reach.
	nextQ := (r.outCount*r.m + r.delay) / r.l
	keepFrom := nextQ - int64(r.taps) + 1
	if drop := int(keepFrom - r.histStart); drop > 4096 && drop <= len(r.hist) {
		r.hist = append(r.hist[:0], r.hist[drop:]...)
		r.histStart += int64(drop)
	}
	return dst
}

func toS16(v float32) int16 {
	v *= 32768
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// kaiser is the Kaiser window at t ∈ [-1, 1].
func kaiser(t, beta float64) float64 {
	if t < -1 || t > 1 {
		return 0
	}
	return bessel0(beta*math.Sqrt(1-t*t)) / bessel0(beta)
}

func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
