package compliance

import (
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/segment"
	"github.com/cunbo/cunbo/speech"
)

// TestPracticeMomentsAreMarked: what the loop flags while the box listens
// for a practice (the findings and her mark button) is written as a
// practice's, so her social worker can tell it from what viewers heard; a
// live's segments stay as they were (no kind).
func TestPracticeMomentsAreMarked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen []Listening // in turn, before the finding and the mark
		want   string      // the segments' kind
	}{
		{"live", []Listening{ListenLive}, ""},
		{"practice", []Listening{ListenPractice}, segment.KindPractice},
		// Going off air leaves the kind: the last words are judged after.
		{"practice, then off air", []Listening{ListenPractice, ListenOff}, segment.KindPractice},
		{"a practice, then a live", []Listening{ListenPractice, ListenOff, ListenLive}, ""},
		{"a live, then a practice", []Listening{ListenLive, ListenOff, ListenPractice}, segment.KindPractice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			caps := &Captions{loop: h.loop}
			h.loop.NewSession()
			for _, l := range tc.listen {
				caps.Listen(l)
			}
			h.loop.Caption(speech.Caption{Start: sec(1), End: sec(2), Text: "全网最低价", Final: true})
			found := h.segment(t)
			if err := h.loop.Mark(); err != nil {
				t.Fatal(err)
			}
			mark := h.segment(t)
			for _, s := range []flagged.Segment{found, mark} {
				if s.Kind != tc.want {
					t.Errorf("%s segment: kind %q, want %q", s.Reason, s.Kind, tc.want)
				}
				// What is on disk, read back as the uploader sends it.
				got, err := h.store.Get(s.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Kind != tc.want {
					t.Errorf("%s segment on disk: kind %q, want %q", s.Reason, got.Kind, tc.want)
				}
			}
			if mark.Reason != flagged.ReasonMark || found.Reason != flagged.ReasonFinding {
				t.Fatalf("segments %s, %s", found.Reason, mark.Reason)
			}
		})
	}
}

// TestPracticeFindingDoesNotJoinALiveSegment: a live's open segment never
// takes a practice's finding (nor the other way round), however close.
func TestPracticeFindingDoesNotJoinALiveSegment(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Before, c.After = 2*time.Second, 2*time.Second })
	h.loop.Practising(false)
	h.loop.Caption(speech.Caption{Start: sec(1), End: sec(2), Text: "全网最低价", Final: true})
	h.warning(t)
	h.loop.Practising(true)
	h.loop.Caption(speech.Caption{Start: sec(2.5), End: sec(3), Text: "我们是第一品牌", Final: true})
	h.warning(t)
	kinds := map[string]int{}
	for range 2 {
		s := h.segment(t)
		kinds[s.Kind] += len(s.Findings)
	}
	if kinds[""] != 1 || kinds[segment.KindPractice] != 1 {
		t.Fatalf("findings by kind %v, want one live and one practice", kinds)
	}
}
