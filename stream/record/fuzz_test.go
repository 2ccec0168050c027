package record

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzRecoverScan feeds arbitrary bytes to the recovery scanner: it must
// never panic, and what it calls valid must scan again to the same result
// with nothing torn, which is what lets recovery truncate there safely.
func FuzzRecoverScan(f *testing.F) {
	seg := synthSegment(f, 3)
	f.Add(seg)
	f.Add(seg[:len(seg)-7])
	f.Add(append(append([]byte(nil), seg...), 0, 0, 0, 9, 'm', 'o', 'o', 'f', 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := scanSegment(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, errNoInit) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if idx.validEnd < idx.initEnd || idx.validEnd > int64(len(data)) {
			t.Fatalf("validEnd %d outside [%d, %d]", idx.validEnd, idx.initEnd, len(data))
		}
		again, err := scanSegment(bytes.NewReader(data[:idx.validEnd]), idx.validEnd)
		if err != nil {
			t.Fatalf("valid prefix no longer scans: %v", err)
		}
		if again.validEnd != idx.validEnd || len(again.fragments) != len(idx.fragments) {
			t.Fatalf("rescan of valid prefix: end %d frags %d, first scan end %d frags %d",
				again.validEnd, len(again.fragments), idx.validEnd, len(idx.fragments))
		}
		_ = idx.duration()
	})
}

func TestSynthSegmentScans(t *testing.T) {
	seg := synthSegment(t, 3)
	idx, err := scanSegment(bytes.NewReader(seg), int64(len(seg)))
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.fragments) != 3 || idx.validEnd != int64(len(seg)) || idx.video == nil || idx.audio == nil {
		t.Fatalf("scan: %d fragments, end %d of %d", len(idx.fragments), idx.validEnd, len(seg))
	}
	if d := idx.duration(); d.Milliseconds() != 300 {
		t.Errorf("duration %v, want 300ms", d)
	}
}
