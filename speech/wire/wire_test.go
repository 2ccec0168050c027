package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	samples := []int16{0, 1, -1, 32767, -32768, 1234}
	var stream bytes.Buffer
	w := NewWriter(&stream)
	if err := w.WriteRaw(AppendPCM(nil, 1500*time.Millisecond, samples)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteJSON(TypeSegment, Segment{Start: 0.42, End: 3.9, Text: "全网最低价", Final: true}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteJSON(TypeHello, Hello{Family: "tdnn-ctc", Loaded: true}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(TypePing, []byte{7}); err != nil {
		t.Fatal(err)
	}

	r := NewReader(&stream)
	f, err := r.Next()
	if err != nil || f.Type != TypePCM {
		t.Fatalf("first frame %v %v", f.Type, err)
	}
	pts, got, err := DecodePCM(f.Payload, nil)
	if err != nil || pts != 1500*time.Millisecond || !equal(got, samples) {
		t.Fatalf("pcm: pts=%v samples=%v err=%v", pts, got, err)
	}
	f, _ = r.Next()
	seg, err := DecodeSegment(f.Payload)
	if err != nil || seg.Text != "全网最低价" || seg.Start != 0.42 || seg.End != 3.9 || !seg.Final {
		t.Fatalf("segment %+v %v", seg, err)
	}
	f, _ = r.Next()
	h, err := DecodeHello(f.Payload)
	if err != nil || h.Family != "tdnn-ctc" || !h.Loaded {
		t.Fatalf("hello %+v %v", h, err)
	}
	f, _ = r.Next()
	if f.Type != TypePing || !bytes.Equal(f.Payload, []byte{7}) {
		t.Fatalf("ping %+v", f)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("want clean EOF, got %v", err)
	}
}

func TestReaderRejects(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"unknown type", []byte{9, 0, 0, 0, 0}, ErrUnknownType},
		{"zero type", []byte{0, 0, 0, 0, 0}, ErrUnknownType},
		{"too large", []byte{1, 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		{"cut header", []byte{1, 0, 0}, io.ErrUnexpectedEOF},
		{"cut payload", []byte{2, 0, 0, 0, 10, '{'}, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tc.input)).Next()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPayloadValidation(t *testing.T) {
	if _, _, err := DecodePCM([]byte{1, 2, 3}, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("short pcm: %v", err)
	}
	if _, _, err := DecodePCM(make([]byte, 11), nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("odd pcm: %v", err)
	}
	for _, p := range []string{`{`, `{"start":2,"end":1}`, `{"start":1e300,"end":1e301}`, `[]`} {
		if _, err := DecodeSegment([]byte(p)); !errors.Is(err, ErrMalformed) {
			t.Errorf("segment %s: %v", p, err)
		}
	}
	if err := CheckToken(make([]byte, MaxToken+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("long token: %v", err)
	}
	if err := NewWriter(io.Discard).WriteFrame(TypePCM, make([]byte, MaxPayload+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large write: %v", err)
	}
}

// FuzzWireDecode feeds arbitrary bytes to the frame reader and the payload
// decoders: they must never panic, and every frame they accept must
// re-encode to exactly the bytes it was read from.
func FuzzWireDecode(f *testing.F) {
	f.Add(AppendPCM(nil, time.Second, []int16{1, -2, 3}))
	f.Add(AppendFrame(nil, TypeSegment, []byte(`{"start":0.5,"end":1.25,"text":"辣椒酱","final":true}`)))
	f.Add(AppendFrame(nil, TypeHello, []byte(`{"family":"paraformer","loaded":false,"error":"x"}`)))
	f.Add(AppendFrame(AppendFrame(nil, TypePing, []byte("abc")), TypePong, []byte("abc")))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		consumed := 0
		for {
			fr, err := r.Next()
			if err != nil {
				return
			}
			enc := AppendFrame(nil, fr.Type, fr.Payload)
			if !bytes.Equal(enc, data[consumed:consumed+len(enc)]) {
				t.Fatalf("frame %v does not re-encode to its input", fr.Type)
			}
			consumed += len(enc)
			switch fr.Type {
			case TypePCM:
				pts, s, err := DecodePCM(fr.Payload, nil)
				if err == nil && !bytes.Equal(AppendPCM(nil, pts, s), enc) {
					t.Fatal("pcm does not round-trip")
				}
			case TypeSegment:
				if s, err := DecodeSegment(fr.Payload); err == nil && s.End < s.Start {
					t.Fatalf("accepted segment ending before it starts: %+v", s)
				}
			case TypeHello:
				_, _ = DecodeHello(fr.Payload)
			case TypePing, TypePong:
				_ = CheckToken(fr.Payload)
			}
		}
	})
}

func equal(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
