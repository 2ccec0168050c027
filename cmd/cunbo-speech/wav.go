package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cunbo/cunbo/speech/resample"
	"github.com/cunbo/cunbo/speech/wire"
)

// maxWAVBytes bounds what --wav will read: an hour of 48 kHz stereo.
const maxWAVBytes = 700 << 20

// readWAV reads a 16-bit PCM WAV file of any rate and channel count and
// returns it as 16 kHz mono float samples in [-1, 1).
func readWAV(path string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hdr [12]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return nil, fmt.Errorf("%s: not a WAV file: %w", path, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%s: not a RIFF/WAVE file", path)
	}
	var rate, channels, bits int
	gotFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(f, ch[:]); err != nil {
			return nil, fmt.Errorf("%s: no data chunk: %w", path, err)
		}
		id, size := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:]))
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, fmt.Errorf("%s: bad fmt chunk size %d", path, size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(f, b); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			format := binary.LittleEndian.Uint16(b[0:])
			channels = int(binary.LittleEndian.Uint16(b[2:]))
			rate = int(binary.LittleEndian.Uint32(b[4:]))
			bits = int(binary.LittleEndian.Uint16(b[14:]))
			if format != 1 && format != 0xfffe {
				return nil, fmt.Errorf("%s: WAV format %d is not PCM", path, format)
			}
			if bits != 16 {
				return nil, fmt.Errorf("%s: %d-bit WAV, need 16-bit", path, bits)
			}
			gotFmt = true
		case "data":
			if !gotFmt {
				return nil, fmt.Errorf("%s: data before fmt chunk", path)
			}
			if size > maxWAVBytes {
				return nil, fmt.Errorf("%s: data chunk of %d bytes is too large", path, size)
			}
			b := make([]byte, size)
			n, err := io.ReadFull(f, b)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			// A truncated recording (size field larger than the file) is
			// still worth recognising.
			b = b[:n-n%2]
			pcm := make([]int16, len(b)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			return toMono16k(pcm, rate, channels)
		default:
			if _, err := f.Seek(size+size%2, io.SeekCurrent); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
}

func toMono16k(pcm []int16, rate, channels int) ([]float32, error) {
	if rate != wire.SampleRate || channels != 1 {
		r, err := resample.New(rate, channels, wire.SampleRate)
		if err != nil {
			return nil, err
		}
		pcm = r.Process(nil, pcm)
	}
	out := make([]float32, len(pcm))
	for i, s := range pcm {
		out[i] = float32(s) / 32768
	}
	return out, nil
}
