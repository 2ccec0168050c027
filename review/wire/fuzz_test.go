package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/cunbo/cunbo/review/wire"
	"github.com/cunbo/cunbo/review/wiretest"
)

// FuzzParseSegment: any input is either refused with ErrInvalid or is a
// segment that survives a round trip through JSON still valid.
func FuzzParseSegment(f *testing.F) {
	f.Add([]byte(v1))
	f.Add(wiretest.JSON(f, wiretest.Segment(wiretest.ID(1), 1000)))
	f.Add(wiretest.JSON(f, wiretest.Segment(wiretest.ID(1), 0)))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := wire.ParseSegment(data)
		if err != nil {
			if !errors.Is(err, wire.ErrInvalid) {
				t.Fatalf("refusal not ErrInvalid: %v", err)
			}
			return
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wire.ParseSegment(again); err != nil {
			t.Fatalf("accepted segment fails after a round trip: %v", err)
		}
	})
}

// FuzzReadSegmentTar: no input panics, and a refusal is always ErrInvalid
// (never blamed on storage), whatever the tar holds.
func FuzzReadSegmentTar(f *testing.F) {
	mp4 := append([]byte{0, 0, 0, 16, 'f', 't', 'y', 'p'}, bytes.Repeat([]byte{1}, 992)...)
	f.Add(wiretest.SegmentTar(f, wiretest.ID(1), mp4))
	f.Add(wiretest.SegmentTar(f, wiretest.ID(1), nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, err := wire.ReadSegmentTar(bytes.NewReader(data), func(r io.Reader, _ int64) error {
			_, err := io.Copy(io.Discard, r)
			return err
		})
		if err != nil && !errors.Is(err, wire.ErrInvalid) {
			t.Fatalf("refusal not ErrInvalid: %v", err)
		}
	})
}

func FuzzParseSession(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"s1","start":"2026-11-28T09:00:00Z","end":"2026-11-28T10:00:00Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := wire.ParseSession(data); err != nil && !errors.Is(err, wire.ErrInvalid) {
			t.Fatalf("refusal not ErrInvalid: %v", err)
		}
	})
}
