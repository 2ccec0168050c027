package hw

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// WAVInfo is what ParseWAV learns from a RIFF/WAVE header.
type WAVInfo struct {
	Format AudioFormat
	// DataOffset and DataSize locate the PCM samples in the file. DataSize
	// is trimmed to whole sample frames within the bytes actually present.
	DataOffset int64
	DataSize   int64
}

// ErrBadWAV is wrapped by every WAV parsing error.
var ErrBadWAV = errors.New("not a usable 16-bit PCM WAV file")

const (
	wavFormatPCM        = 1
	wavFormatExtensible = 0xFFFE
	maxWAVChunks        = 64
)

// ParseWAV reads a RIFF/WAVE header from r (whose total length is size)
// and locates 16-bit PCM data. It skips chunks it does not need (LIST,
// fact, ...) and accepts WAVE_FORMAT_EXTENSIBLE with a PCM subformat.
func ParseWAV(r io.ReaderAt, size int64) (WAVInfo, error) {
	var hdr [12]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return WAVInfo{}, fmt.Errorf("%w: short RIFF header: %w", ErrBadWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return WAVInfo{}, fmt.Errorf("%w: missing RIFF/WAVE signature", ErrBadWAV)
	}
	var (
		info    WAVInfo
		haveFmt bool
		pos     int64 = 12
	)
	for range maxWAVChunks {
		var ch [8]byte
		if _, err := r.ReadAt(ch[:], pos); err != nil {
			if !haveFmt {
				return WAVInfo{}, fmt.Errorf("%w: no fmt chunk", ErrBadWAV)
			}
			return WAVInfo{}, fmt.Errorf("%w: no data chunk", ErrBadWAV)
		}
		id := string(ch[0:4])
		n := int64(binary.LittleEndian.Uint32(ch[4:8]))
		body := pos + 8
		switch id {
		case "fmt ":
			if n < 16 || n > 1024 {
				return WAVInfo{}, fmt.Errorf("%w: fmt chunk of %d bytes", ErrBadWAV, n)
			}
			buf := make([]byte, n)
			if _, err := r.ReadAt(buf, body); err != nil {
				return WAVInfo{}, fmt.Errorf("%w: truncated fmt chunk: %w", ErrBadWAV, err)
			}
			f, err := parseWAVFmt(buf)
			if err != nil {
				return WAVInfo{}, err
			}
			info.Format, haveFmt = f, true
		case "data":
			if !haveFmt {
				return WAVInfo{}, fmt.Errorf("%w: data chunk before fmt chunk", ErrBadWAV)
			}
			// Streamed WAVs carry a placeholder size; trust the file.
			avail := max(size-body, 0)
			n = min(n, avail)
			frame := int64(2 * info.Format.Channels)
			info.DataOffset, info.DataSize = body, n-n%frame
			if info.DataSize == 0 {
				return WAVInfo{}, fmt.Errorf("%w: no samples", ErrBadWAV)
			}
			return info, nil
		}
		pos = body + n + n%2 // chunks are padded to even length
		if pos >= size {
			break
		}
	}
	if !haveFmt {
		return WAVInfo{}, fmt.Errorf("%w: no fmt chunk", ErrBadWAV)
	}
	return WAVInfo{}, fmt.Errorf("%w: no data chunk", ErrBadWAV)
}

func parseWAVFmt(b []byte) (AudioFormat, error) {
	tag := binary.LittleEndian.Uint16(b[0:2])
	channels := int(binary.LittleEndian.Uint16(b[2:4]))
	rate := int(binary.LittleEndian.Uint32(b[4:8]))
	blockAlign := int(binary.LittleEndian.Uint16(b[12:14]))
	bits := int(binary.LittleEndian.Uint16(b[14:16]))
	if tag == wavFormatExtensible {
		// cbSize(2) validBits(2) channelMask(4) subformat GUID(16), whose
		// first two bytes are the real format tag.
		if len(b) < 40 {
			return AudioFormat{}, fmt.Errorf("%w: short WAVE_FORMAT_EXTENSIBLE header", ErrBadWAV)
		}
		tag = binary.LittleEndian.Uint16(b[24:26])
	}
	switch {
	case tag != wavFormatPCM:
		return AudioFormat{}, fmt.Errorf("%w: format tag %#x is not PCM", ErrBadWAV, tag)
	case bits != 16:
		return AudioFormat{}, fmt.Errorf("%w: %d-bit samples, need 16", ErrBadWAV, bits)
	case channels < 1 || channels > 8:
		return AudioFormat{}, fmt.Errorf("%w: %d channels", ErrBadWAV, channels)
	case rate < 8000 || rate > 192000:
		return AudioFormat{}, fmt.Errorf("%w: sample rate %d Hz", ErrBadWAV, rate)
	case blockAlign != 2*channels:
		return AudioFormat{}, fmt.Errorf("%w: block align %d for %d channels", ErrBadWAV, blockAlign, channels)
	}
	return AudioFormat{SampleRate: rate, Channels: channels}, nil
}

// maxWAVLoopBytes caps what WAVLoop keeps in memory (about 10 minutes of
// 16 kHz mono); loops are short clips.
const maxWAVLoopBytes = 20 << 20

// WAVLoopConfig configures a WAVLoop.
type WAVLoopConfig struct {
	Path  string
	Epoch time.Time
}

// WAVLoop plays a 16-bit PCM WAV file over and over at real time, as if it
// were a microphone.
type WAVLoop struct {
	format  AudioFormat
	samples []int16
	pos     int
	pacer   pcmPacer
}

// NewWAVLoop loads and checks the file.
func NewWAVLoop(cfg WAVLoopConfig) (*WAVLoop, error) {
	f, err := os.Open(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("hw: wav loop: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("hw: wav loop: %w", err)
	}
	info, err := ParseWAV(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("hw: wav loop %s: %w", cfg.Path, err)
	}
	if info.DataSize > maxWAVLoopBytes {
		return nil, fmt.Errorf("hw: wav loop %s: %d bytes of samples, limit %d", cfg.Path, info.DataSize, maxWAVLoopBytes)
	}
	raw := make([]byte, info.DataSize)
	if _, err := f.ReadAt(raw, info.DataOffset); err != nil {
		return nil, fmt.Errorf("hw: wav loop %s: read samples: %w", cfg.Path, err)
	}
	samples := make([]int16, len(raw)/2)
	for i := range samples {
		samples[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return &WAVLoop{format: info.Format, samples: samples, pacer: newPCMPacer(info.Format, cfg.Epoch)}, nil
}

// Format implements AudioSource.
func (w *WAVLoop) Format() AudioFormat { return w.format }

// ReadPCM implements AudioSource.
func (w *WAVLoop) ReadPCM(ctx context.Context, buf []int16) (int, error) {
	n, err := w.pacer.take(ctx, len(buf))
	if err != nil {
		return 0, err
	}
	for i := 0; i < n; {
		c := copy(buf[i:n], w.samples[w.pos:])
		i += c
		w.pos = (w.pos + c) % len(w.samples)
	}
	return n, nil
}

// Close implements AudioSource.
func (w *WAVLoop) Close() error { return nil }
