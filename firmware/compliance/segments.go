package compliance

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/segment"
	"github.com/cunbo/cunbo/speech"
	"github.com/cunbo/cunbo/stream/record"
)

// openSeg is a flagged segment the loop may still change: findings join it
// while its clip is open, the same rules said again join it as repeats for
// RepeatWindow after, and its clip is cut once the recording reaches its
// end. Owned by Run's goroutine.
type openSeg struct {
	id       string // "" until first written
	reason   string
	practice bool      // flagged in a practice: nothing of another kind joins it
	at       time.Time // the moment
	from, to time.Time // the clip's range
	caps     []heard   // its transcript, in the order heard
	finds    []segFinding
	rules    map[string]bool
	hold     record.HoldID
	held     bool
	release  func()
	// closed: a new session began (stream offsets start over), or it was
	// resumed after a restart; nothing joins it any more.
	closed bool
	// cutting: the clip is being cut or done; its range is fixed.
	cutting bool
	// provisional are the captions (by seq) of partials she was warned
	// about, written at once and replaced by their final when it comes.
	provisional []uint64
}

// maxPartialWait is how long past its range a segment waits for the
// final of a partial it holds (the worker may have died) before its clip
// is cut anyway.
const maxPartialWait = 30 * time.Second

type segFinding struct {
	sf          lint.StreamFinding
	at          time.Time
	first, last heard // the captions its words begin and end in
	repeat      bool
}

func (o *openSeg) addCaption(h heard) bool {
	i, found := slices.BinarySearchFunc(o.caps, h.seq, func(c heard, seq uint64) int { return cmpSeq(c.seq, seq) })
	if found {
		return false
	}
	o.caps = slices.Insert(o.caps, i, h)
	return true
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// heardDuring adds a caption to the segments whose clip it falls in (what
// she said in the clip is in the transcript) and returns them.
func (l *Loop) heardDuring(h heard) []*openSeg {
	var dirty []*openSeg
	for _, o := range l.segs {
		if o.closed || o.cutting || !h.wall.Before(o.to) || h.wallEnd().Before(o.from) {
			continue
		}
		if o.addCaption(h) {
			dirty = append(dirty, o)
		}
	}
	return dirty
}

// flag files a finding: into the open segment whose clip it would overlap
// (the clip stretched to cover it, up to MaxClip), as a repeat of a rule
// that segment already has, or into a new segment. It returns the segment
// changed.
func (l *Loop) flag(sf lint.StreamFinding) *openSeg {
	if l.cfg.Store == nil {
		return nil
	}
	first, last := -1, -1
	for i, h := range l.history {
		if h.has(sf.Start) {
			first = i
		}
		if h.has(sf.End - 1) {
			last = i
		}
	}
	if sf.End <= sf.Start || first < 0 || last < first {
		l.log.Error("finding does not point at words heard; not flagged", "rule", sf.Rule, "start", sf.Start, "end", sf.End)
		return nil
	}
	utt := l.history[first : last+1]
	// The words were said before she was warned about them. A final
	// caption's timing puts a phrase in proportion to where it stands in
	// the text: in a long utterance (the VAD joins sentences said without
	// a pause) that can be seconds after the partial that warned her. The
	// first such finding of the utterance is the one she was warned about.
	var notAfter time.Time
	for i := range l.warnedAt {
		w := &l.warnedAt[i]
		if !w.bounded && w.category == sf.Category && w.start < utt[len(utt)-1].c.End && utt[0].c.Start < w.end {
			notAfter, w.bounded = w.at, true
			break
		}
	}
	return l.file(sf, utt, notAfter)
}

// file puts a finding said in utt into a segment; its moment is not after
// notAfter unless that is zero.
func (l *Loop) file(sf lint.StreamFinding, utt []heard, notAfter time.Time) *openSeg {
	uStart, uEnd := utt[0].wall, utt[len(utt)-1].wallEnd()
	moment, ok := l.wallTime(sf.StartTime)
	if !ok {
		moment = uStart.Add(sf.StartTime - utt[0].c.Start)
	}
	moment = earliest(latest(moment, uStart), uEnd)
	if !notAfter.IsZero() {
		moment = latest(earliest(moment, notAfter), uStart)
	}
	from, to := uStart.Add(-l.cfg.Before), uEnd.Add(l.cfg.After)
	f := segFinding{sf: sf, at: moment, first: utt[0], last: utt[len(utt)-1]}

	if o := l.joinable(); o != nil {
		stretched := latest(to, o.to).Sub(earliest(from, o.from))
		if !o.cutting && !from.After(o.to) && (stretched <= l.cfg.MaxClip || !o.rules[sf.Rule]) {
			if from.Before(o.from) || to.After(o.to) {
				o.from, o.to = earliest(from, o.from), latest(to, o.to)
				l.hold(o)
			}
			o.add(f, utt)
			return o
		}
		if o.rules[sf.Rule] && moment.Before(o.to.Add(l.cfg.RepeatWindow)) {
			f.repeat = from.Before(o.from) || to.After(o.to)
			o.add(f, utt)
			return o
		}
	}
	o := &openSeg{reason: flagged.ReasonFinding, practice: l.practising, at: moment, from: from, to: to, rules: map[string]bool{}}
	l.addContext(o, utt[0].seq)
	o.add(f, utt)
	l.hold(o)
	l.segs = append(l.segs, o)
	return o
}

// flagPartial writes the findings of a partial caption she was just warned
// about: the final may come seconds later, or never (a power cut, the
// worker dying), and what she was warned about must be on disk already.
func (l *Loop) flagPartial(c speech.Caption, at time.Time, fs []lint.Finding) {
	if l.cfg.Store == nil || len(fs) == 0 {
		return
	}
	c.Text = strings.ReplaceAll(c.Text, flagged.CaptionSep, " ")
	wall, ok := l.wallTime(c.Start)
	if !ok {
		wall = at.Add(-(c.End - c.Start))
	}
	l.heardSeq++
	hp := heard{seq: l.heardSeq, c: c, wall: wall, offset: l.stream.Offset()}
	n := int64(max(utf8.RuneCountInString(c.Text), 1))
	var dirty []*openSeg
	for _, f := range fs {
		if f.End <= f.Start {
			continue
		}
		sf := lint.StreamFinding{Finding: f}
		sf.Start += hp.offset
		sf.End += hp.offset
		sf.StartTime = c.Start + time.Duration(int64(c.End-c.Start)*int64(f.Start)/n)
		sf.EndTime = c.Start + time.Duration(int64(c.End-c.Start)*int64(f.End)/n)
		o := l.file(sf, []heard{hp}, time.Time{})
		if !slices.Contains(o.provisional, hp.seq) {
			o.provisional = append(o.provisional, hp.seq)
		}
		if !slices.Contains(dirty, o) {
			dirty = append(dirty, o)
		}
	}
	for _, o := range dirty {
		l.write(o)
	}
}

// settlePartials: the final caption c of an utterance arrived. A
// segment holding a partial of it that the final's findings went to
// (hit) drops the partial, now told better by the final; one the
// final brought nothing to keeps the partial, what she was warned about.
// It returns the segments changed.
func (l *Loop) settlePartials(c speech.Caption, hit []*openSeg) []*openSeg {
	var changed []*openSeg
	for _, o := range l.segs {
		keep := o.provisional[:0]
		for _, seq := range o.provisional {
			i := slices.IndexFunc(o.caps, func(h heard) bool { return h.seq == seq })
			if i < 0 {
				continue
			}
			if p := o.caps[i].c; !(p.Start < c.End && c.Start < p.End) {
				keep = append(keep, seq)
				continue
			}
			if slices.Contains(hit, o) {
				o.caps = slices.Delete(o.caps, i, i+1)
				o.finds = slices.DeleteFunc(o.finds, func(f segFinding) bool { return f.first.seq == seq || f.last.seq == seq })
				changed = append(changed, o)
			}
		}
		o.provisional = keep
	}
	return changed
}

func (o *openSeg) add(f segFinding, utt []heard) {
	o.finds = append(o.finds, f)
	o.rules[f.sf.Rule] = true
	for _, h := range utt {
		o.addCaption(h)
	}
}

// joinable is the newest findings segment a finding may join.
func (l *Loop) joinable() *openSeg {
	for i := len(l.segs) - 1; i >= 0; i-- {
		if o := l.segs[i]; o.reason == flagged.ReasonFinding && !o.closed && o.practice == l.practising {
			return o
		}
	}
	return nil
}

// addContext puts what she said in the Context before the moment into a
// new segment's transcript.
func (l *Loop) addContext(o *openSeg, before uint64) {
	for _, h := range l.history {
		if h.seq < before && !h.wallEnd().Before(o.at.Add(-l.cfg.Context)) {
			o.addCaption(h)
		}
	}
}

func (l *Loop) mark(at time.Time, release func()) {
	o := &openSeg{reason: flagged.ReasonMark, practice: l.practising, at: at, from: at.Add(-l.cfg.MarkBefore), to: at.Add(l.cfg.MarkAfter),
		release: release, rules: map[string]bool{}}
	l.addContext(o, l.heardSeq+1)
	l.hold(o)
	l.segs = append(l.segs, o)
	l.log.Info("mark: flagged segment", "at", at)
	l.write(o)
}

// hold protects the segment's range of the recording, replacing its
// earlier hold.
func (l *Loop) hold(o *openSeg) {
	if l.cfg.Recorder == nil {
		return
	}
	old, held := o.hold, o.held
	o.hold, o.held = l.cfg.Recorder.Hold(o.from, o.to), true
	if held {
		l.cfg.Recorder.Release(old)
	}
}

func (l *Loop) unhold(o *openSeg) {
	if o.held {
		l.cfg.Recorder.Release(o.hold)
		o.held = false
	}
	if o.release != nil {
		o.release()
		o.release = nil
	}
}

// build is the segment's transcript and findings as they stand.
func (o *openSeg) build() (flagged.Transcript, []flagged.Finding) {
	tr := flagged.Transcript{Captions: make([]flagged.Caption, 0, len(o.caps))}
	index := make(map[uint64]int, len(o.caps))
	var text []byte
	off := 0
	for i, h := range o.caps {
		if i > 0 {
			text = append(text, flagged.CaptionSep...)
		}
		text = append(text, h.c.Text...)
		index[h.seq] = i
		tr.Captions = append(tr.Captions, flagged.Caption{
			At:     h.wall,
			Start:  h.wall.Sub(o.at).Seconds(),
			End:    h.wallEnd().Sub(o.at).Seconds(),
			Offset: off,
			Text:   h.c.Text,
		})
		off += utf8.RuneCountInString(h.c.Text) + utf8.RuneCountInString(flagged.CaptionSep)
	}
	tr.Text = string(text)
	findings := make([]flagged.Finding, 0, len(o.finds))
	for _, f := range o.finds {
		i, j := index[f.first.seq], index[f.last.seq]
		findings = append(findings, flagged.Finding{
			Category:     f.sf.Category,
			CategoryName: lint.CategoryName(f.sf.Category),
			Rule:         f.sf.Rule,
			Caption:      i,
			Start:        tr.Captions[i].Offset + f.sf.Start - f.first.offset,
			End:          tr.Captions[j].Offset + f.sf.End - f.last.offset,
			Repeat:       f.repeat,
			Match:        f.sf.Match,
			Law:          f.sf.Law,
			Explain:      f.sf.Explain,
			Suggest:      f.sf.Suggest,
			At:           f.at,
		})
	}
	return tr, findings
}

// write puts the segment on disk as it stands: created the first time,
// then replaced atomically.
func (l *Loop) write(o *openSeg) {
	// The moment is the earliest finding's: a partial's guess is replaced
	// by its final's.
	for i, f := range o.finds {
		if i == 0 || f.at.Before(o.at) {
			o.at = f.at
		}
	}
	tr, findings := o.build()
	if o.id == "" {
		seg := flagged.Segment{Reason: o.reason, Device: l.cfg.Device, At: o.at, RulePack: l.cfg.Linter.Version(),
			Transcript: tr, Findings: findings}
		if o.practice {
			seg.Kind = segment.KindPractice
		}
		if l.cfg.Recorder != nil {
			seg.ClipPending = &flagged.Range{From: o.from, To: o.to}
		}
		out, err := l.cfg.Store.Create(seg, nil)
		l.mu.Lock()
		if err != nil {
			l.stats.SegmentErrors++
		} else {
			l.stats.Segments++
		}
		l.mu.Unlock()
		if err != nil {
			l.log.Error("flagged segment not stored", "reason", o.reason, "err", err)
			l.segs = slices.DeleteFunc(l.segs, func(s *openSeg) bool { return s == o })
			l.unhold(o)
			if l.cfg.OnSegment != nil {
				l.cfg.OnSegment(flagged.Segment{}, err)
			}
			return
		}
		o.id = out.ID
		l.log.Info("flagged segment written", "id", out.ID, "reason", out.Reason, "findings", len(out.Findings))
		if l.cfg.Recorder == nil && l.cfg.OnSegment != nil {
			l.cfg.OnSegment(out, nil)
		}
		return
	}
	_, err := l.cfg.Store.Update(o.id, func(g *flagged.Segment) error {
		g.At, g.Transcript, g.Findings = o.at, tr, findings
		if g.ClipPending != nil {
			g.ClipPending = &flagged.Range{From: o.from, To: o.to}
		}
		return nil
	})
	if err != nil {
		l.mu.Lock()
		l.stats.SegmentErrors++
		l.mu.Unlock()
		l.log.Error("flagged segment not updated", "id", o.id, "err", err)
	}
}

// cutDue starts the clips whose range the recording should now have and
// forgets segments nothing can join any more.
func (l *Loop) cutDue() {
	now := l.cfg.Now()
	keep := l.segs[:0]
	for _, o := range l.segs {
		if !o.cutting && !now.Before(l.due(o)) {
			l.cut(o, false)
		}
		if o.cutting && (o.closed || o.reason != flagged.ReasonFinding || !now.Before(o.to.Add(l.cfg.RepeatWindow))) {
			continue
		}
		keep = append(keep, o)
	}
	clear(l.segs[len(keep):])
	l.segs = keep
}

// due is when the clip is cut. A findings segment waits Before past its
// range: an utterance starting by then would have a clip overlapping this
// one, and its final caption (after she stops) usually arrives by then, so
// it joins instead of copying the same seconds again. While a partial
// waits for its final (which may stretch the range), up to maxPartialWait
// longer.
func (l *Loop) due(o *openSeg) time.Time {
	d := o.to
	if o.reason == flagged.ReasonFinding && !o.closed {
		d = d.Add(l.cfg.Before)
	}
	if len(o.provisional) > 0 {
		d = d.Add(maxPartialWait)
	}
	return d
}

// cut attaches the clip in the background (it takes a moment to read and
// write); now means at once, with whatever is recorded.
func (l *Loop) cut(o *openSeg, now bool) {
	o.cutting = true
	if o.id == "" {
		l.unhold(o)
		return
	}
	if l.cfg.Recorder == nil {
		l.unhold(o)
		return
	}
	id, from, to, focus := o.id, o.from, o.to, o.at
	hold, held, release := o.hold, o.held, o.release
	o.held, o.release = false, nil
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		out, err := l.cfg.Store.AttachClip(id, func(path string) (*flagged.Clip, error) {
			return l.writeClip(from, to, focus, path, now)
		})
		if held {
			l.cfg.Recorder.Release(hold)
		}
		if release != nil {
			release()
		}
		if err != nil {
			l.mu.Lock()
			l.stats.SegmentErrors++
			l.mu.Unlock()
			l.log.Error("flagged segment clip not stored", "id", id, "err", err)
		} else {
			l.log.Info("flagged segment complete", "id", out.ID, "clip_bytes", clipBytes(out.Clip), "clip_error", out.ClipError)
		}
		if l.cfg.OnSegment != nil {
			l.cfg.OnSegment(out, err)
		}
	}()
}

func clipBytes(c *flagged.Clip) int64 {
	if c == nil {
		return 0
	}
	return c.Bytes
}

// writeClip cuts [from, to] once the recorder has made its end durable.
// Whether it has is asked with a cheap probe (the last second, read and
// discarded) every 100 ms, so the SD card writes the clip once; after
// Settle the clip is cut with what there is.
func (l *Loop) writeClip(from, to, focus time.Time, path string, now bool) (*flagged.Clip, error) {
	deadline := to.Add(l.cfg.Settle)
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Settle+30*time.Second)
	defer cancel()
	for !now && l.cfg.Now().Before(deadline) {
		info, err := l.cfg.Recorder.Clip(ctx, to.Add(-time.Second), to, io.Discard)
		if err == nil && (info.Truncated || !info.End.Before(to.Add(-100*time.Millisecond))) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var info record.ClipInfo
	var err error
	if fc, ok := l.cfg.Recorder.(focusClipper); ok {
		info, err = fc.ClipFileAround(ctx, from, to, focus, path)
	} else {
		info, err = l.cfg.Recorder.ClipFile(ctx, from, to, path)
	}
	l.log.Debug("clip", "from", from, "to", to, "end", info.End, "err", err)
	if err != nil {
		return nil, err
	}
	return &flagged.Clip{Start: info.Start, End: info.End, Bytes: info.Bytes, Truncated: info.Truncated}, nil
}

// focusClipper is a Recorder that keeps, of a range split by a
// picture-size change (the box adapting to a weak link), the part holding
// the flagged moment rather than the longer one (*record.Recorder).
type focusClipper interface {
	ClipFileAround(ctx context.Context, from, to, focus time.Time, path string) (record.ClipInfo, error)
}

var _ focusClipper = (*record.Recorder)(nil)

// resumeClips picks up the segments a restart (a power cut, a crash) left
// waiting for their clip: the recording ring survives restarts, so the
// clip is cut from it when it still holds the range.
func (l *Loop) resumeClips() {
	if l.cfg.Store == nil || l.cfg.Recorder == nil {
		return
	}
	for _, s := range l.cfg.Store.List() {
		if s.ClipPending == nil {
			continue
		}
		o := &openSeg{id: s.ID, reason: s.Reason, practice: s.IsPractice(), at: s.At, from: s.ClipPending.From, to: s.ClipPending.To, closed: true}
		l.hold(o)
		l.segs = append(l.segs, o)
		l.log.Info("flagged segment still needs its clip", "id", s.ID)
	}
}

var errNoStore = errors.New("compliance: no flagged-segment store")
