package lint

import (
	"time"
	"unicode/utf8"
)

// Segment is one caption segment from the recogniser.
type Segment struct {
	Text string
	// Start and End locate the segment in the stream; both zero when the
	// caller has no timing.
	Start, End time.Duration
	// Final marks the end of an utterance (the recogniser's final
	// caption): nothing more of it is coming, so it is judged whole (see
	// Linter.CheckFinal). A subtitle cue is not one.
	Final bool
}

// StreamFinding is a finding located in the whole transcript.
type StreamFinding struct {
	Finding
	// Start and End of the embedded Finding are rune offsets into the
	// transcript: every pushed segment's text concatenated in order.
	// Segment is the index of the segment where the match begins
	// (segments are numbered from 0 in Push order).
	Segment int
	// StartTime and EndTime estimate when the phrase was said, by
	// interpolating within the segments' timing.
	StartTime, EndTime time.Duration
}

// Stream lints caption segments as they arrive. It catches a phrase that
// straddles two segments (全网最 | 低价) and never reports the same
// phrase twice. A Stream is not safe for concurrent use; the Linter under
// it may be reloaded at any time.
type Stream struct {
	l *Linter
	// JoinGap is the longest silence across which two segments are still
	// read as one utterance. Zero means 2 s.
	JoinGap time.Duration
	// PauseGap is the shortest silence that ends a clause (negation does
	// not carry across it). Zero means 0.3 s.
	PauseGap time.Duration

	n        int // segments pushed
	offset   int // transcript length in runes
	prevEnd  time.Duration
	timed    bool
	tail     []rune
	tailPos  []time.Duration // time of each tail rune
	reported []StreamFinding // recent findings, for de-duplication
	buf      []rune
}

// tailRunes is how much of the previous segment is kept to catch a phrase
// that straddles segments; longer than any pattern a person says at once.
const tailRunes = 16

// NewStream starts a caption stream on this linter.
func (l *Linter) NewStream() *Stream { return &Stream{l: l} }

// Push lints the next segment and returns the findings it completes.
func (s *Stream) Push(seg Segment) []StreamFinding {
	joinGap, pauseGap := s.JoinGap, s.PauseGap
	if joinGap == 0 {
		joinGap = 2 * time.Second
	}
	if pauseGap == 0 {
		pauseGap = 300 * time.Millisecond
	}
	timed := seg.End > 0 || seg.Start > 0
	if s.n > 0 && timed && s.timed && seg.Start-s.prevEnd > joinGap {
		s.tail, s.tailPos = s.tail[:0], s.tailPos[:0]
	}
	segRunes := utf8.RuneCountInString(seg.Text)
	tailLen := len(s.tail)
	s.buf = append(s.buf[:0], s.tail...)
	for _, r := range seg.Text {
		s.buf = append(s.buf, r)
	}
	var pauses []int
	// A recogniser cuts segments at pauses, so a segment boundary ends a
	// clause unless the timing shows the speaker did not stop.
	if tailLen > 0 && (!timed || !s.timed || seg.Start-s.prevEnd >= pauseGap) {
		pauses = []int{tailLen}
	}
	joined := string(s.buf)
	base := s.offset - tailLen // transcript offset of joined[0]

	var out []StreamFinding
	check := s.l.CheckPauses
	if seg.Final {
		check = s.l.CheckFinalPauses
	}
	for _, f := range check(joined, pauses) {
		if f.End <= tailLen {
			continue // entirely in the previous segment: already judged there
		}
		sf := StreamFinding{Finding: f, Segment: s.n}
		sf.Start += base
		sf.End += base
		if f.Start < tailLen {
			sf.Segment = s.n - 1
		}
		sf.StartTime = s.timeAt(f.Start, tailLen, segRunes, seg)
		sf.EndTime = s.timeAt(f.End, tailLen, segRunes, seg)
		if s.seen(sf) {
			continue
		}
		s.reported = append(s.reported, sf)
		out = append(out, sf)
	}

	// keep the end of this segment for the next push
	keep := min(tailRunes, len(s.buf))
	from := len(s.buf) - keep
	newPos := make([]time.Duration, 0, keep)
	for i := from; i < len(s.buf); i++ {
		newPos = append(newPos, s.timeAt(i, tailLen, segRunes, seg))
	}
	s.tail = append(s.tail[:0], s.buf[from:]...)
	s.tailPos = newPos
	s.offset += segRunes
	s.n++
	s.prevEnd, s.timed = seg.End, timed
	s.forget()
	return out
}

// Offset is the transcript length so far, in runes.
func (s *Stream) Offset() int { return s.offset }

// timeAt estimates when the rune at position i of the joined text was said.
func (s *Stream) timeAt(i, tailLen, segRunes int, seg Segment) time.Duration {
	if i < tailLen {
		return s.tailPos[i]
	}
	if segRunes == 0 {
		return seg.Start
	}
	k := i - tailLen
	return seg.Start + time.Duration(int64(seg.End-seg.Start)*int64(k)/int64(segRunes))
}

// seen reports whether an overlapping finding of the same category was
// already reported (全网最 then 全网最低价 is one warning, not two).
func (s *Stream) seen(f StreamFinding) bool {
	for _, r := range s.reported {
		if r.Category == f.Category && f.Start < r.End && r.Start < f.End {
			return true
		}
	}
	return false
}

// forget drops findings that can no longer overlap anything new.
func (s *Stream) forget() {
	horizon := s.offset - 2*tailRunes
	keep := s.reported[:0]
	for _, r := range s.reported {
		if r.End > horizon {
			keep = append(keep, r)
		}
	}
	s.reported = keep
}
