package flagged

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzSegmentJSON feeds arbitrary bytes to the segment.json reader: it must
// never panic, and whatever it accepts must be internally consistent and
// survive a write/read round trip unchanged.
func FuzzSegmentJSON(f *testing.F) {
	good := findingSegment(t0)
	good.Version, good.ID, good.Status = SchemaVersion, NewID(t0), StatusPending
	data, _ := json.Marshal(&good)
	f.Add(data)
	two := twoCaptions(t0)
	two.Version, two.ID, two.Status = SchemaVersion, NewID(t0), StatusPending
	two.ClipPending = &Range{From: t0.Add(-6 * time.Second), To: t0.Add(3 * time.Second)}
	data, _ = json.Marshal(&two)
	f.Add(data)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"id":"20261128T093000000Z-0a1b2c3d","reason":"mark","status":"reviewed","transcript":{"text":"","captions":[]},"findings":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		seg, err := ParseSegment(data)
		if err != nil {
			return
		}
		for _, fd := range seg.Findings {
			_ = seg.Said(fd)
		}
		again, err := json.Marshal(seg)
		if err != nil {
			t.Fatalf("accepted segment does not marshal: %v", err)
		}
		seg2, err := ParseSegment(again)
		if err != nil {
			t.Fatalf("accepted segment rejected after a round trip: %v\n%s", err, again)
		}
		again2, _ := json.Marshal(seg2)
		if string(again) != string(again2) {
			t.Fatalf("round trip changed the segment:\n%s\n%s", again, again2)
		}
	})
}
