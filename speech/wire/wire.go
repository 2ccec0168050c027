// Package wire is the framing spoken between the box and the speech worker
// over the worker's stdin and stdout. It is pure Go so both sides (the cgo
// worker and the CGO_ENABLED=0 box binary) share one definition.
//
// A frame is 1 byte type, 4 byte big-endian payload length, then payload:
//
//	PCM      8 byte big-endian int64 pipeline time (ns) of the first sample,
//	         then 16 kHz mono signed 16-bit little-endian samples
//	Segment  JSON {"start":s,"end":s,"text":"…","final":bool}, pipeline seconds
//	Hello    JSON {"family":"…","loaded":bool,"error":"…"}: the worker's
//	         health, sent once it has loaded (or failed to load) its models
//	Ping     opaque token (≤ 64 bytes); the peer answers Pong with the same
//	Pong     token
package wire

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// Type identifies a frame's payload.
type Type byte

const (
	TypePCM     Type = 1
	TypeSegment Type = 2
	TypeHello   Type = 3
	TypePing    Type = 4
	TypePong    Type = 5
)

func (t Type) String() string {
	switch t {
	case TypePCM:
		return "pcm"
	case TypeSegment:
		return "segment"
	case TypeHello:
		return "hello"
	case TypePing:
		return "ping"
	case TypePong:
		return "pong"
	}
	return fmt.Sprintf("type(%d)", byte(t))
}

const (
	// HeaderSize is the fixed frame header: type + length.
	HeaderSize = 5
	// MaxPayload bounds a frame so a corrupt length cannot make the reader
	// allocate gigabytes. 1 MiB is ~32 s of 16 kHz PCM, far above any
	// chunk either side sends.
	MaxPayload = 1 << 20
	// MaxToken bounds ping/pong payloads.
	MaxToken = 64
	// SampleRate is the only PCM rate on the wire.
	SampleRate = 16000
	pcmPTSSize = 8
)

var (
	// ErrTooLarge reports a frame whose declared length exceeds MaxPayload.
	ErrTooLarge = errors.New("wire: frame payload too large")
	// ErrUnknownType reports a frame type this version does not know.
	ErrUnknownType = errors.New("wire: unknown frame type")
	// ErrMalformed reports a payload that does not match its frame type.
	ErrMalformed = errors.New("wire: malformed payload")
)

// Frame is one decoded frame. Payload aliases the Reader's buffer and is
// valid until the next call to Next.
type Frame struct {
	Type    Type
	Payload []byte
}

// Reader decodes frames from a stream.
type Reader struct {
	r   *bufio.Reader
	buf []byte
	hdr [HeaderSize]byte
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next reads one frame. It returns io.EOF only at a clean frame boundary and
// io.ErrUnexpectedEOF for a stream cut inside a frame.
func (r *Reader) Next() (Frame, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return Frame{}, err
	}
	t := Type(r.hdr[0])
	n := binary.BigEndian.Uint32(r.hdr[1:])
	if t < TypePCM || t > TypePong {
		return Frame{}, fmt.Errorf("%w %d", ErrUnknownType, r.hdr[0])
	}
	if n > MaxPayload {
		return Frame{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("wire: reading %s payload: %w", t, err)
	}
	return Frame{Type: t, Payload: r.buf}, nil
}

// Writer encodes frames onto a stream. It is safe for concurrent use; each
// frame is written with a single Write call so frames never interleave.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteFrame writes one frame.
func (w *Writer) WriteFrame(t Type, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(payload))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = AppendFrame(w.buf[:0], t, payload)
	_, err := w.w.Write(w.buf)
	return err
}

// WriteRaw writes bytes that already hold whole encoded frames (for example
// from AppendPCM).
func (w *Writer) WriteRaw(frames []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.w.Write(frames)
	return err
}

// WriteJSON writes a frame whose payload is v encoded as JSON.
func (w *Writer) WriteJSON(t Type, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("wire: encoding %s: %w", t, err)
	}
	return w.WriteFrame(t, b)
}

// AppendFrame appends an encoded frame to dst.
func AppendFrame(dst []byte, t Type, payload []byte) []byte {
	dst = append(dst, byte(t))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// AppendPCM appends a whole PCM frame carrying samples (16 kHz mono) whose
// first sample is at pipeline time pts.
func AppendPCM(dst []byte, pts time.Duration, samples []int16) []byte {
	dst = append(dst, byte(TypePCM))
	dst = binary.BigEndian.AppendUint32(dst, uint32(pcmPTSSize+2*len(samples)))
	dst = binary.BigEndian.AppendUint64(dst, uint64(pts))
	for _, s := range samples {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(s))
	}
	return dst
}

// DecodePCM decodes a PCM payload, appending the samples to dst.
func DecodePCM(payload []byte, dst []int16) (pts time.Duration, samples []int16, err error) {
	if len(payload) < pcmPTSSize || (len(payload)-pcmPTSSize)%2 != 0 {
		return 0, dst, fmt.Errorf("%w: pcm payload of %d bytes", ErrMalformed, len(payload))
	}
	pts = time.Duration(binary.BigEndian.Uint64(payload))
	body := payload[pcmPTSSize:]
	for i := 0; i+1 < len(body); i += 2 {
		dst = append(dst, int16(binary.LittleEndian.Uint16(body[i:])))
	}
	return pts, dst, nil
}

// Segment is one recognised stretch of speech. Partial segments (Final
// false) are the worker's running guess for the utterance still being
// spoken; the final one replaces them.
type Segment struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
	Final bool    `json:"final"`
}

// DecodeSegment decodes and validates a Segment payload.
func DecodeSegment(payload []byte) (Segment, error) {
	var s Segment
	if err := json.Unmarshal(payload, &s); err != nil {
		return Segment{}, fmt.Errorf("%w: segment: %v", ErrMalformed, err)
	}
	if !finite(s.Start) || !finite(s.End) || s.End < s.Start {
		return Segment{}, fmt.Errorf("%w: segment times start=%v end=%v", ErrMalformed, s.Start, s.End)
	}
	return s, nil
}

// Hello is the worker's health: which recogniser it loaded, or why not.
type Hello struct {
	// Family is the recogniser family ("" when running VAD only).
	Family string `json:"family"`
	Loaded bool   `json:"loaded"`
	Error  string `json:"error,omitempty"`
}

// DecodeHello decodes a Hello payload.
func DecodeHello(payload []byte) (Hello, error) {
	var h Hello
	if err := json.Unmarshal(payload, &h); err != nil {
		return Hello{}, fmt.Errorf("%w: hello: %v", ErrMalformed, err)
	}
	return h, nil
}

// CheckToken validates a ping or pong payload.
func CheckToken(payload []byte) error {
	if len(payload) > MaxToken {
		return fmt.Errorf("%w: token of %d bytes", ErrMalformed, len(payload))
	}
	return nil
}

// Seconds converts a pipeline time to wire seconds, rounded to the
// millisecond so JSON stays short.
func Seconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1000) / 1000
}

// Duration converts wire seconds to a pipeline time.
func Duration(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1e9 }
