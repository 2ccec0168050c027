// Package lint decides, clause by clause, whether what a speech recogniser
// heard the streamer say breaks the Advertising Law or a platform rule, and
// tells her what to say instead.
//
// The text is normalised on a copy that keeps an offset map (width, case,
// inserted symbols, fillers, stutters, numbers, a few homophones and dialect
// words), candidates are found with one Aho-Corasick pass, and each is then
// checked against allow-phrases, word boundaries (gse segmentation),
// negation within its clause and own-range comparisons. All rules, words and
// exceptions live in a rule pack a trainer can edit.
package lint

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Finding is one violation, pointing at the original text.
type Finding struct {
	Category string `json:"category"`
	Rule     string `json:"rule"`
	// Start and End are rune (character) offsets [Start,End) into the
	// original text.
	Start   int    `json:"start"`
	End     int    `json:"end"`
	Match   string `json:"match"`
	Law     string `json:"law"`
	Explain string `json:"explain"`
	Suggest string `json:"suggest"`
}

// Linter checks utterances against a rule pack. It is safe for concurrent
// use; Reload swaps in a new pack atomically.
type Linter struct {
	m atomic.Pointer[matcher]
}

// New compiles a rule pack into a Linter.
func New(p *Pack) (*Linter, error) {
	m, err := compile(p)
	if err != nil {
		return nil, err
	}
	l := &Linter{}
	l.m.Store(m)
	return l, nil
}

// Reload compiles p and, only if that succeeds, replaces the current rules.
// Checks already running finish on the old rules.
func (l *Linter) Reload(p *Pack) error {
	m, err := compile(p)
	if err != nil {
		return err
	}
	l.m.Store(m)
	return nil
}

// Version is the version string of the rule pack in use.
func (l *Linter) Version() string { return l.m.Load().pack.Version }

// Check lints one utterance. Invalid UTF-8 bytes count as one character
// each, so offsets stay meaningful.
// The text may be a recogniser's partial caption, so the category model
// does not judge one that ends in the start of a rule phrase (我们家是全网
// …): the rules judge it once the phrase is whole.
func (l *Linter) Check(text string) []Finding {
	return l.m.Load().check(text, nil, false, nil)
}

// CheckPauses lints one utterance, possibly partial, whose recogniser
// timestamps show pauses: each value in pauses is a rune offset where the
// speaker paused, which ends a clause (negation does not carry across it).
func (l *Linter) CheckPauses(text string, pauses []int) []Finding {
	return l.m.Load().check(text, pauses, false, nil)
}

// CheckFinal lints one whole utterance: a recogniser's final caption or a
// written line. Nothing more of it is coming, so the category model
// judges it however it ends.
func (l *Linter) CheckFinal(text string) []Finding {
	return l.m.Load().check(text, nil, true, nil)
}

// CheckFinalPauses is CheckPauses for a whole utterance (see CheckFinal).
func (l *Linter) CheckFinalPauses(text string, pauses []int) []Finding {
	return l.m.Load().check(text, pauses, true, nil)
}

// Tag kinds stored in the automaton's key tags.
const (
	kindPattern = iota + 1
	kindExcept
	kindAllow
	kindNegation
	kindNotNegation
	kindDisclaimer
	kindBreak
	kindOwnRange
	kindPart
	kindTopic
	kindVerb
	kindDoubt
	kindWish
	kindHead
	kindSubject
	kindProduct
	kindReferral
	kindSpeech
	kindService
	kindReport
	kindCount
)

// A pattern may be several parts joined by '~': each later part must
// follow the previous one within partGap runes in the same clause
// (别人家的~都是假的). This keeps packs readable without expanding every
// combination.
const partGap = 8

type compiledPattern struct {
	rule   int
	nparts int
	// own marks an own-range marker written in parts (两种~里面) rather
	// than a rule pattern.
	own bool
}

type partRef struct {
	pattern, part int
}

const kindShift = 24

type matcher struct {
	pack  *Pack
	norm  normalizer
	ac    *automaton
	keys  []acKey
	shape []bool // key is a shape key (contains # for a number)
	// shapeAC holds the shape keys alone, for the shape scan: a text's
	// shape is its literal self but for its numbers, and walking the
	// whole automaton over it again cost a line with a number an eighth
	// of its check. shapeKeys[i].tag is the key's index in keys. nil
	// when the pack has no shape key.
	shapeAC   *automaton
	shapeKeys []acKey
	rules     []Rule
	pats      []compiledPattern
	parts     []partRef
	seg       segmenter
	model     *catModel // nil unless the pack asks for the category model
	// modelRules are the rules the model was trained beside (the built-in
	// pack's): it may veto only their findings, never a trainer's own rule
	// for words it has never seen.
	modelRules map[string]bool
	// ruleCat and vetoCat are per rule, laid out by indexRules: its
	// category's index in Categories(), and the model's index of it when
	// the model may veto the rule (-1 when not), so judging a line
	// compares numbers, not strings.
	ruleCat []uint8
	vetoCat []int8
	// keyGate is per key, laid out by indexRules, for the literal scan:
	// p+1 for the first part of pattern p, which marks the pattern begun
	// (scratch.hasFirst); -(p+1) for a later part of p, which is filed
	// only once p has begun (most of a line's part keys are common words
	// that dozens of patterns share); 0 for every other key. A pattern
	// whose first part holds a number is found by the shape scan after
	// the literal one, so its later parts are not gated. A shape key is
	// gateShape: the literal scan files none.
	keyGate []int32
	// pendingAt[n] marks the automaton's nodes that spell a proper prefix
	// (two to pendingMaxRunes runes) of a rule pattern's first part: an
	// utterance ending in one may be a partial caption the rules will
	// judge once it is whole.
	pendingAt []bool
	pool      sync.Pool
	// compileScratch, compilePhrase and phraseWords are used only while
	// compiling.
	compileScratch normalizeScratch
	compilePhrase  normText
	phraseWords    []string
}

type hit struct {
	start, end int // in literal normalised runes
	idx        int // pattern index for candidates, part index for parts, rule index for excepts
}

type scratch struct {
	// byKind[kind] is the list record files a key of that kind under
	// (nil for kindBreak, filed in breaks).
	byKind [kindCount]*[]hit
	text   string // the text scanned, while it is checked
	orig   []rune
	// origAt[i] is the byte offset of orig[i] in text, and its last
	// value len(text): a finding's Match is then a slice of what she said.
	origAt []int32
	// badUTF8 is set when the text held a byte that is not UTF-8: only
	// then can a finding's Match differ from a slice of it (said).
	badUTF8 bool
	ns      normalizeScratch
	shape   []rune
	shapeL  []span // shape rune -> literal rune range
	first   []hit
	later   []hit
	// laterAt orders later's indices by start, so following a pattern
	// looks only at the parts that begin within partGap of it: a long
	// caption holds thousands of part hits, and scanning them all for
	// every first part was quadratic (a 1 MB line took hours).
	laterAt []int32
	// laterCount are the counting sort's buckets; once it is done,
	// laterCount[s] is how many parts start at or before s (laterFrom).
	laterCount []int32
	// hasFirst[p] marks the patterns whose first part the literal scan
	// found (keyGate); the next scan clears them.
	hasFirst []bool
	cands    []hit
	except   []hit
	allow    []hit
	neg      []hit
	notNeg   []hit
	discl    []hit
	own      []hit
	topic    []hit
	verb     []hit
	doubt    []hit
	wish     []hit
	head     []hit
	subj     []hit
	prod     []hit
	refer    []hit
	speech   []hit
	svc      []hit
	report   []hit
	breaks   []int
	// wordHits are the dictionary words of the text scanned (textWords).
	wordHits   wordHits
	wordsFound bool
	words      wordScratch // the category model's segmentation (model_words.go)
	masked     []rune      // the model's copy of the text with cleared words masked
	packed     packedText  // that text UTF-8 packed for the model's hashes
	feats      []uint32    // the model's feature buckets for it
	verdicts   []verdict
	// final marks a whole utterance, which the category model judges
	// however it ends (endsPending is for partial captions).
	final bool
}

// said is the original text of span s. Where the text held invalid UTF-8
// it is rebuilt from the decoded runes, as it always was (each bad byte
// one U+FFFD); elsewhere it is the caller's own string, not a copy.
func (sc *scratch) said(s span) string {
	if runes := sc.orig[s.start:s.end]; sc.badUTF8 && slices.Contains(runes, utf8.RuneError) {
		return string(runes)
	}
	return sc.text[sc.origAt[s.start]:sc.origAt[s.end]]
}

// pendingMaxRunes bounds the unfinished phrase a partial caption is
// checked for.
const pendingMaxRunes = 8

// Negation reaches back at most this many runes within its clause.
const negationWindow = 7

// A disclaimer (…的话我们不敢讲) clears a claim up to this many runes before it.
const disclaimerWindow = 14

func compile(p *Pack) (*matcher, error) {
	if p == nil {
		return nil, fmt.Errorf("compile rule pack: nil pack")
	}
	m := &matcher{pack: p, rules: p.Rules}
	var firstParts [][]rune // the rule patterns' first parts, for pendingAt
	m.pool.New = newScratch

	// The normaliser itself is built first: every pattern and phrase is
	// then rewritten by it, so 第一 in a pattern matches 第1 in speech.
	var fb acBuilder = *newACBuilder()
	for _, f := range p.Fillers {
		fb.add([]rune(f.Text), 0)
	}
	m.norm.fillers, m.norm.fillerKey = fb.build()
	fo := newACBuilder()
	for i, f := range p.Folds {
		fo.add([]rune(f.From), int32(i))
		m.norm.foldTo = append(m.norm.foldTo, []rune(f.To))
	}
	m.norm.folds, m.norm.foldKey = fo.build()
	m.norm.stutter = map[rune]bool{}
	for _, s := range p.Stutters {
		for _, r := range s.Text {
			m.norm.stutter[r] = true
		}
	}

	// A stutter on a pattern's first character (最最最好) is always a
	// stutter, never a doubled word. The set must be complete before any
	// pattern is normalised.
	for _, r := range p.Rules {
		for _, pt := range r.Patterns {
			if r0, _ := utf8.DecodeRuneInString(pt.Text); r0 > 0x7F && r0 != utf8.RuneError {
				m.norm.stutter[r0] = true
			}
		}
	}

	b, sb := newACBuilder(), newACBuilder()
	var problems []LineError
	add := func(text string, kind, idx int, line int) {
		alts, err := expandPattern(text)
		if err != nil {
			problems = append(problems, LineError{line, fmt.Sprintf("%q: %v", text, err)})
			return
		}
		for ai, a := range alts {
			norm := m.normalizePhrase(a)
			if kind == kindPattern && len(norm) >= 2 && len(norm) <= 4 && !slices.Contains(norm, '#') && ai < 64 {
				m.phraseWords = append(m.phraseWords, string(norm))
			}
			if kind == kindPattern {
				firstParts = append(firstParts, norm)
			}
			if !m.hasFiller(a) {
				// nothing for the speech normaliser to drop
			} else if kept := m.normalizePhraseKeepFillers(a); string(kept) != string(norm) {
				problems = append(problems, LineError{line, fmt.Sprintf("%q contains a filler word that is removed from speech before matching (it would match as %q); leave the filler out", a, string(norm))})
				continue
			}
			if len(norm) == 0 {
				problems = append(problems, LineError{line, fmt.Sprintf("%q is empty after normalising", a)})
				continue
			}
			k := b.add(norm, int32(kind<<kindShift|idx))
			m.shape = append(m.shape, slices.Contains(norm, '#'))
			if m.shape[k] {
				sb.add(norm, k)
			}
		}
	}
	// addParts registers a pattern whose parts are joined by '~': the first
	// part as a candidate, the later ones to be followed in the clause.
	addParts := func(ph Phrase, cp compiledPattern) {
		pieces := strings.Split(ph.Text, "~")
		pid := len(m.pats)
		cp.nparts = len(pieces)
		m.pats = append(m.pats, cp)
		for k, piece := range pieces {
			if k == 0 {
				add(piece, kindPattern, pid, ph.Line)
				continue
			}
			add(piece, kindPart, len(m.parts), ph.Line)
			m.parts = append(m.parts, partRef{pid, k})
		}
	}
	for i, r := range p.Rules {
		for _, pt := range r.Patterns {
			addParts(pt, compiledPattern{rule: i})
		}
		for _, ex := range r.Except {
			add(ex.Text, kindExcept, i, ex.Line)
		}
	}
	for _, a := range p.Allow {
		add(a.Text, kindAllow, 0, a.Line)
	}
	lists := []struct {
		ph   []Phrase
		kind int
	}{
		{p.Negations, kindNegation}, {p.NotNegations, kindNotNegation}, {p.Disclaimers, kindDisclaimer},
		{p.ClauseBreaks, kindBreak}, {p.OwnRange, kindOwnRange},
		{p.Topics, kindTopic}, {p.DisclaimVerbs, kindVerb}, {p.Doubts, kindDoubt},
		{p.Wishes, kindWish}, {p.Heads, kindHead}, {p.Subjects, kindSubject}, {p.Products, kindProduct},
		{p.Referrals, kindReferral}, {p.SpeechVerbs, kindSpeech}, {p.Services, kindService},
		{p.Reports, kindReport},
	}
	for _, l := range lists {
		for _, w := range l.ph {
			if l.kind == kindOwnRange && strings.Contains(w.Text, "~") {
				addParts(w, compiledPattern{own: true})
				continue
			}
			add(w.Text, l.kind, 0, w.Line)
		}
	}
	if len(problems) > 0 {
		return nil, &PackError{Source: p.Source, Problems: problems}
	}
	m.ac, m.keys = b.build()
	if len(sb.keys) > 0 {
		m.shapeAC, m.shapeKeys = sb.build()
	}
	m.pendingAt = make([]bool, len(m.ac.nodes))
	for _, w := range firstParts {
		n := int32(0)
		for k := 1; k < len(w) && k <= pendingMaxRunes && n >= 0; k++ {
			if n = m.ac.child(n, w[k-1]); n >= 0 && k >= 2 {
				m.pendingAt[n] = true
			}
		}
	}

	words := make([]string, 0, len(p.Words))
	for _, w := range p.Words {
		words = append(words, string(m.normalizePhrase(w.Text)))
	}
	// The rule phrases themselves are words too: the boundary check then
	// asks whether the speaker's words break the phrase apart (自治县 vs
	// 治), not whether a trimmed dictionary happens to know it.
	words = append(words, m.phraseWords...)
	seg, err := newSegmenter(words)
	if err != nil {
		return nil, fmt.Errorf("rule pack %s: %w", p.Source, err)
	}
	m.seg = seg
	switch p.Model {
	case "":
	case "category":
		cm, err := defaultModel()
		if err != nil {
			return nil, fmt.Errorf("rule pack %s: %w", p.Source, err)
		}
		m.model = cm
		ids, err := defaultRuleIDs()
		if err != nil {
			return nil, fmt.Errorf("rule pack %s: %w", p.Source, err)
		}
		m.modelRules = ids
	default:
		return nil, fmt.Errorf("rule pack %s: unknown model %q (want category)", p.Source, p.Model)
	}
	m.indexRules()
	return m, nil
}

// indexRules lays out keyGate, ruleCat and vetoCat from the keys, the
// rules, the model and modelRules; whatever sets one of those calls it
// again.
func (m *matcher) indexRules() {
	shapedFirst := make([]bool, len(m.pats))
	for k, key := range m.keys {
		if key.tag>>kindShift == kindPattern && m.shape[k] {
			shapedFirst[key.tag&(1<<kindShift-1)] = true
		}
	}
	m.keyGate = make([]int32, len(m.keys))
	for k, key := range m.keys {
		if m.shape[k] {
			m.keyGate[k] = gateShape
			continue
		}
		switch idx := key.tag & (1<<kindShift - 1); key.tag >> kindShift {
		case kindPattern:
			m.keyGate[k] = idx + 1
		case kindPart:
			if p := int32(m.parts[idx].pattern); !shapedFirst[p] {
				m.keyGate[k] = -(p + 1)
			}
		}
	}
	cats := Categories()
	m.ruleCat, m.vetoCat = make([]uint8, len(m.rules)), make([]int8, len(m.rules))
	for i, r := range m.rules {
		// a pack names only known categories (parsePack)
		m.ruleCat[i] = uint8(max(slices.Index(cats, r.Category), 0))
		m.vetoCat[i] = -1
		if m.model != nil && m.modelRules[r.ID] {
			m.vetoCat[i] = int8(slices.Index(m.model.cats, r.Category))
		}
	}
}

// gateShape is the keyGate of a shape key.
const gateShape = math.MinInt32

// verdict is a rule finding while a line is judged: rule indexes
// m.rules, start and end are normalised rune positions.
type verdict struct{ rule, start, end int32 }

// hasFiller reports whether a filler word occurs anywhere in s (after
// width and case folding, as speech is folded), so only such phrases pay
// for the second normalisation that checks them.
func (m *matcher) hasFiller(s string) bool {
	if m.norm.fillers == nil {
		return false
	}
	t := &m.compilePhrase
	t.reset()
	m.norm.foldWidth([]rune(s), t)
	return m.norm.hasFiller(t.runes)
}

// normalizePhrase rewrites a pattern piece by piece around its # signs.
func (m *matcher) normalizePhrase(s string) []rune { return m.normalizePhraseOpt(s, true) }

func (m *matcher) normalizePhraseKeepFillers(s string) []rune { return m.normalizePhraseOpt(s, false) }

func (m *matcher) normalizePhraseOpt(s string, dropFillers bool) []rune {
	var out []rune
	sc := &m.compileScratch
	for i, piece := range strings.Split(s, "#") {
		if i > 0 {
			out = append(out, '#')
		}
		nt := m.norm.normalizeOpt([]rune(piece), sc, dropFillers)
		out = append(out, nt.runes...)
	}
	return out
}

func (m *matcher) check(text string, pauses []int, final bool, into []Finding) []Finding {
	sc := m.pool.Get().(*scratch)
	defer func() {
		sc.text = "" // a pooled scratch keeps no caller's text alive
		m.pool.Put(sc)
	}()
	nt := m.scan(text, sc)
	sc.final = final
	if len(sc.first) == 0 {
		return m.modelFindings(nt, sc, into)
	}
	return m.judge(nt, sc, pauses, into)
}

// scan normalises text and records every key the automaton finds in it:
// what both the rules and the category model read.
func (m *matcher) scan(text string, sc *scratch) *normText {
	sc.text, sc.badUTF8 = text, false
	sc.orig, sc.origAt = sc.orig[:0], sc.origAt[:0]
	for i := 0; i < len(text); {
		r, w := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			// A three-byte sequence, as every Chinese character is, is
			// decoded here: the runtime's decoder is a call per rune,
			// which cost an emulated arm64 box more than the decoding.
			w = 0
			if i+2 < len(text) && text[i]&0xF0 == 0xE0 && text[i+1]&0xC0 == 0x80 && text[i+2]&0xC0 == 0x80 {
				r, w = rune(text[i]&0x0F)<<12|rune(text[i+1]&0x3F)<<6|rune(text[i+2]&0x3F), 3
			}
			if w == 0 || r < 0x800 || r >= 0xD800 && r <= 0xDFFF {
				r, w = utf8.DecodeRuneInString(text[i:])
				sc.badUTF8 = sc.badUTF8 || r == utf8.RuneError
			}
		}
		sc.orig = append(sc.orig, r)
		sc.origAt = append(sc.origAt, int32(i))
		i += w
	}
	sc.origAt = append(sc.origAt, int32(len(text)))
	nt := m.norm.normalize(sc.orig, &sc.ns)
	// the patterns the last scan began are no longer begun
	for _, f := range sc.first {
		sc.hasFirst[f.idx] = false
	}
	if len(sc.hasFirst) < len(m.pats) {
		sc.hasFirst = make([]bool, len(m.pats))
	}
	sc.first, sc.later, sc.cands = sc.first[:0], sc.later[:0], sc.cands[:0]
	sc.words.scored = false // the model's scores are of the last text scanned
	sc.wordsFound = false
	sc.except, sc.allow = sc.except[:0], sc.allow[:0]
	sc.neg, sc.notNeg, sc.discl, sc.own = sc.neg[:0], sc.notNeg[:0], sc.discl[:0], sc.own[:0]
	sc.topic, sc.verb, sc.doubt, sc.wish = sc.topic[:0], sc.verb[:0], sc.doubt[:0], sc.wish[:0]
	sc.head, sc.subj, sc.prod = sc.head[:0], sc.subj[:0], sc.prod[:0]
	sc.refer, sc.speech, sc.svc, sc.report = sc.refer[:0], sc.speech[:0], sc.svc[:0], sc.report[:0]
	sc.breaks = append(sc.breaks[:0], nt.breaks...)

	for k, end := range m.ac.matches(nt.runes) {
		if g := m.keyGate[k]; g > 0 {
			sc.hasFirst[g-1] = true
		} else if g < 0 && (g == gateShape || !sc.hasFirst[-g-1]) {
			continue // a shape key, or a later part of a pattern not begun
		}
		m.record(sc, k, end-int(m.keys[k].n), end)
	}
	if m.shapeAC != nil && m.buildShape(nt, sc) {
		for i, end := range m.shapeAC.matches(sc.shape) {
			key := m.shapeKeys[i]
			s := end - int(key.n)
			m.record(sc, key.tag, int(sc.shapeL[s].start), int(sc.shapeL[end-1].end))
		}
	}
	return nt
}

// record files one key found at [start, end) under its kind. It is small
// enough to be inlined in the scan's loop, one call fewer per key found.
func (m *matcher) record(sc *scratch, k int32, start, end int) {
	tag := m.keys[k].tag
	if list := sc.byKind[tag>>kindShift]; list != nil {
		*list = append(*list, hit{start, end, int(tag & (1<<kindShift - 1))})
		return
	}
	sc.breaks = append(sc.breaks, start) // kindBreak, the one kind without a list
}

// newScratch points each kind of key at the list record files it under.
func newScratch() any {
	sc := &scratch{}
	for kind, list := range map[int]*[]hit{
		kindPattern: &sc.first, kindPart: &sc.later, kindExcept: &sc.except, kindAllow: &sc.allow,
		kindNegation: &sc.neg, kindNotNegation: &sc.notNeg, kindDisclaimer: &sc.discl, kindOwnRange: &sc.own,
		kindTopic: &sc.topic, kindVerb: &sc.verb, kindDoubt: &sc.doubt, kindWish: &sc.wish,
		kindHead: &sc.head, kindSubject: &sc.subj, kindProduct: &sc.prod, kindReferral: &sc.refer,
		kindSpeech: &sc.speech, kindService: &sc.svc, kindReport: &sc.report,
	} {
		sc.byKind[kind] = list
	}
	return sc
}

// judge turns the candidates scan found into findings.
func (m *matcher) judge(nt *normText, sc *scratch, pauses []int, into []Finding) []Finding {
	for _, p := range pauses {
		// a pause at original offset p starts a clause at the first
		// normalised rune that comes from at or after p
		i := sort.Search(len(nt.spans), func(i int) bool { return int(nt.spans[i].start) >= p })
		sc.breaks = append(sc.breaks, i)
	}
	sort.Ints(sc.breaks)
	m.joinParts(nt, sc)

	vs := sc.verdicts[:0]
	for _, c := range sc.cands {
		rule := m.pats[c.idx].rule
		if m.suppressed(nt, sc, c, &m.rules[rule]) {
			continue
		}
		vs = append(vs, verdict{int32(rule), int32(c.start), int32(c.end)})
	}
	vs = m.mergeOverlaps(vs)
	vs = m.veto(nt, sc, vs)
	sc.verdicts = vs[:0]
	if len(vs) == 0 {
		return m.modelFindings(nt, sc, into)
	}
	from := len(into)
	// room for one category the model may add, which is common
	into = slices.Grow(into, len(vs)+1)
	for _, v := range vs {
		r := &m.rules[v.rule]
		s := nt.spanOf(int(v.start), int(v.end))
		into = append(into, Finding{
			Category: r.Category, Rule: r.ID,
			Start: int(s.start), End: int(s.end), Match: sc.said(s),
			Law: r.Law, Explain: r.Explain, Suggest: r.Suggest,
		})
	}
	return m.modelMore(nt, sc, into, from)
}

// laterFrom is the first index of laterAt whose part starts at or after
// at, read off the counting sort's buckets instead of searched for.
func (sc *scratch) laterFrom(at int) int {
	switch {
	case at <= 0:
		return 0
	case at-1 < len(sc.laterCount):
		return int(sc.laterCount[at-1])
	}
	return len(sc.laterAt)
}

// joinParts turns first-part hits into candidates, following multi-part
// patterns through their later parts.
func (m *matcher) joinParts(nt *normText, sc *scratch) {
	// The shape scan's first parts are known only now: a later part of a
	// pattern whose first part holds a number was filed ungated.
	for _, f := range sc.first {
		sc.hasFirst[f.idx] = true
	}
	kept := sc.later[:0]
	for _, h := range sc.later {
		if sc.hasFirst[m.parts[h.idx].pattern] {
			kept = append(kept, h)
		}
	}
	sc.later = kept
	// A counting sort by start, stable so equal starts stay in scan
	// order: starts are rune positions of one short utterance.
	top := 0
	for _, h := range sc.later {
		top = max(top, h.start+1)
	}
	count := grow(sc.laterCount, top+1)
	clear(count)
	for _, h := range sc.later {
		count[h.start+1]++
	}
	for s := 1; s <= top; s++ {
		count[s] += count[s-1]
	}
	sc.laterAt = grow(sc.laterAt, len(sc.later))
	for i, h := range sc.later {
		sc.laterAt[count[h.start]] = int32(i)
		count[h.start]++
	}
	sc.laterCount = count
	for _, f := range sc.first {
		p := m.pats[f.idx]
		if p.nparts == 1 {
			sc.cands = append(sc.cands, f)
			continue
		}
		if p.own {
			continue // joined below, once candidates are known
		}
		if end, ok := m.followParts(nt, sc, f); ok {
			sc.cands = append(sc.cands, hit{f.start, end, f.idx})
		}
	}
	for _, f := range sc.first {
		if p := m.pats[f.idx]; p.own {
			if end, ok := m.followParts(nt, sc, f); ok {
				sc.own = append(sc.own, hit{f.start, end, 0})
			}
		}
	}
}

// followParts follows a multi-part phrase from its first part through the
// later parts, each within partGap runes in the same clause.
func (m *matcher) followParts(nt *normText, sc *scratch, f hit) (int, bool) {
	p := m.pats[f.idx]
	_, ce := clauseOf(sc.breaks, f.start, len(nt.runes))
	end := f.end
	for k := 1; k < p.nparts; k++ {
		// The part found first by the scan wins, as it always has; only
		// the parts starting in [end, end+partGap] can qualify.
		best := int32(-1)
		for _, i := range sc.laterAt[sc.laterFrom(end):] {
			l := sc.later[i]
			if l.start-end > partGap {
				break
			}
			if best >= 0 && i > best {
				continue
			}
			ref := m.parts[l.idx]
			if ref.pattern != f.idx || ref.part != k || l.end > ce {
				continue
			}
			if !p.own && m.rules[p.rule].Negatable && (m.negatedPart(sc, l, end) || cannot(nt.runes, l.end)) {
				continue
			}
			best = i
		}
		if best < 0 {
			return 0, false
		}
		end = sc.later[best].end
	}
	return end, true
}

// cannot reports whether a verb is followed by a negated potential
// complement (买不到, 搜不了, 找不着), which says it cannot be done.
func cannot(rs []rune, i int) bool {
	return i+1 < len(rs) && rs[i] == '不' && strings.ContainsRune("到了着", rs[i+1])
}

// negatedPart reports whether a later part of a pattern is itself
// negated (淘宝京东都没有我们: 没 before 有我们), or a negation stands
// between the parts, which turns the phrase into its opposite.
func (m *matcher) negatedPart(sc *scratch, l hit, prev int) bool {
	for _, ng := range sc.neg {
		if ng.start < prev {
			continue // the negation is part of the phrase (没有~比)
		}
		// a negation anywhere between the parts (微信我们不加的, 平台有规定)
		// breaks the phrase: what follows it is not the claim the first
		// part began
		if ng.end <= l.start && m.realNegation(sc, ng) {
			return true
		}
		// a negation ending inside the part (没有我们 over 有我们)
		if ng.start < l.start && ng.end > l.start && m.realNegation(sc, ng) {
			return true
		}
	}
	return false
}

// buildShape makes the view in which every number is one '#', for
// patterns such as 扣#送 and #万人都在吃. It reports whether any number
// was found (otherwise the literal scan has seen everything).
func (m *matcher) buildShape(nt *normText, sc *scratch) bool {
	if !slices.ContainsFunc(nt.runes, isDigit) {
		return false
	}
	shape := sc.shape[:0]
	sc.shapeL = sc.shapeL[:0]
	rs := nt.runes
	for i := 0; i < len(rs); {
		if isDigit(rs[i]) {
			j := i + 1
			for j < len(rs) && (isDigit(rs[j]) || rs[j] == '.' && j+1 < len(rs) && isDigit(rs[j+1])) {
				j++
			}
			shape = append(shape, '#')
			sc.shapeL = append(sc.shapeL, span{int32(i), int32(j)})
			i = j
			continue
		}
		shape = append(shape, rs[i])
		sc.shapeL = append(sc.shapeL, span{int32(i), int32(i + 1)})
		i++
	}
	sc.shape = shape
	return true
}

// suppressed applies the exceptions of COMPLIANCE.md to one candidate.
func (m *matcher) suppressed(nt *normText, sc *scratch, c hit, r *Rule) bool {
	n := c.end - c.start
	overlapsLonger := func(a hit) bool {
		return a.start < c.end && c.start < a.end && a.end-a.start >= n
	}
	// The longest phrase wins: an allow-phrase at least as long as the
	// candidate and overlapping it (最好放, 第1次, 国家级非遗) clears it.
	for _, a := range sc.allow {
		if overlapsLonger(a) {
			return true
		}
	}
	for _, a := range sc.except {
		// an exception that begins where the candidate begins is a
		// reading of it (医生说我血糖高 for 医生说~…)
		if a.idx == m.pats[c.idx].rule && (overlapsLonger(a) || a.start == c.start) {
			return true
		}
	}
	cs, ce := clauseOf(sc.breaks, c.start, len(nt.runes))
	if r.Negatable && m.negated(nt, sc, c, cs, ce) {
		return true
	}
	if r.AboutProduct && m.notAboutProduct(sc, c, cs, ce) {
		return true
	}
	if r.AboutGoods && serviceAfter(sc, c, ce) {
		return true
	}
	if r.OwnRange {
		for _, o := range sc.own {
			if o.start >= cs && o.end <= c.start {
				return true
			}
		}
	}
	// A phrase that starts inside another candidate continues it
	// (史上最 + 最低价); the segmenter, knowing both as words, would
	// otherwise see no boundary between them.
	chained := false
	for _, o := range sc.cands {
		if o.start < c.start && c.start < o.end {
			chained = true
			break
		}
	}
	if r.Boundary != "none" && !chained {
		if !m.atBoundary(nt, sc, c.start, cs, ce) {
			return true
		}
		if r.Boundary == "both" && !m.atBoundary(nt, sc, c.end, cs, ce) {
			return true
		}
	}
	return false
}

// Scopes, in normalised runes, of the ways a claim is taken back.
const (
	// a doubt (不要相信) covers the reported claim after it
	doubtWindow = 16
	// a wish or plan (我的目标是) covers the figure or rank after it
	wishWindow = 14
	// a topic word (这种说法, 两个字) follows the phrase within this gap
	topicGap = 3
	// and the negated verb follows the phrase within this many runes
	disownWindow = 12
	// her negation, doubt or disclaimer after a reported claim
	// (有人讲…能治胃病，莫听) follows it within this many runes
	rejectWindow = 24
	// a head noun follows the absolute word within this gap (最 + 大的 +
	// 苗寨; 最好吃 + 的 + 吃法)
	headGap = 3
	// a delivery or after-sales outcome follows a guarantee within this
	// gap (绝对不会给你发错, 百分百给您补发), not further: 没有任何风险不好吃包退
	// guarantees the goods and then promises a refund
	serviceGap = 2
)

// negated reports whether the speaker takes the claim back in its clause:
// a negation just before it, a doubt about a reported claim, her own
// wish or plan, a disclaimer after it, or a negated speech or trade verb
// after it with the claim as its topic (特供两个字我们不用).
func (m *matcher) negated(nt *normText, sc *scratch, c hit, cs, ce int) bool {
	if cannot(nt.runes, c.end) {
		return true // 代替不了, 治不好: the claim is denied by its own verb
	}
	if eitherWay(nt.runes, c) {
		return true // 减肥不减肥, 原价不原价: a question, not a claim
	}
	for _, ng := range sc.neg {
		if ng.start < cs || ng.end > c.start {
			continue
		}
		// a negated verb of saying reaches over the whole claim it
		// introduces (我们不敢跟大家说吃了这个能…)
		reach := negationWindow
		if governsSpeech(sc, ng) {
			reach = doubtWindow
		}
		if c.start-ng.end > reach {
			continue
		}
		if m.realNegation(sc, ng) && !corrected(nt.runes, ng, c.start) && !completed(nt.runes, ng.end, c.start) &&
			(reach > negationWindow || !newSubject(nt.runes, ng.end, c.start)) {
			return true
		}
	}
	for _, rf := range sc.refer {
		before := rf.start >= cs && rf.end <= c.start && c.start-rf.end <= doubtWindow
		if (before || rf.start >= c.end) && !m.negatedBefore(sc, rf.start) {
			return true
		}
	}
	for _, d := range sc.doubt {
		if d.start >= cs && d.end <= c.start && c.start-d.end <= doubtWindow {
			return true
		}
	}
	for _, w := range sc.wish {
		if w.start >= cs && w.end <= c.start && c.start-w.end <= wishWindow {
			return true
		}
	}
	if len(sc.discl)+len(sc.report)+len(sc.neg) == 0 {
		return m.echoDenied(nt, sc, c, ce) // nothing after it can take it back
	}
	// A list of claims is taken back as one (降血压，治失眠，这些话我都不讲):
	// what follows the last of them follows each, and it may start the
	// clause after the list.
	tail := listEnd(sc, c)
	_, te := clauseOf(sc.breaks, tail, len(nt.runes))
	te = max(te, ce)
	for _, d := range sc.discl {
		// a disclaimer denied (这个不是乱讲) insists instead
		if d.start >= c.end && d.start < te && d.start-tail <= disclaimerWindow && !deniedAt(sc, d.start) {
			return true
		}
	}
	if reported(sc, c, cs) {
		// what someone else said, then any real negation, doubt or
		// disclaimer of hers after it (莫听, 我不认, 不是的, 没依据), which
		// may come after a pause, in a clause of its own. A negation
		// inside the reported claim (老人讲…夜里不哭) clears it too: the
		// category model is left to catch those.
		for _, hs := range [...][]hit{sc.doubt, sc.discl, sc.neg} {
			for _, d := range hs {
				if d.start >= tail && d.start-tail <= rejectWindow && negationIsReal(sc, d) {
					return true
				}
			}
		}
	}
	for _, ng := range sc.neg {
		if ng.start < c.end || ng.end > te || !m.realNegation(sc, ng) || !(governsVerb(sc, ng, te) || endsPredicate(nt, sc, ng, te)) {
			continue
		}
		for _, tp := range sc.topic {
			if tp.start >= tail && tp.start-tail <= topicGap && tp.end <= ng.start && ng.start-tail <= disownWindow {
				return true
			}
		}
	}
	return m.echoDenied(nt, sc, c, ce)
}

// listEnd returns where the list of claims starting with c ends: later
// candidates that each begin within topicGap runes of the one before.
func listEnd(sc *scratch, c hit) int {
	end := c.end
	for grew := true; grew; {
		grew = false
		for _, o := range sc.cands {
			if o.start >= end-1 && o.start <= end+topicGap && o.end > end {
				end, grew = o.end, true
			}
		}
	}
	return end
}

// reported reports whether someone else's words introduce the claim
// (有人讲, 网上说) within doubtWindow runes before it in its clause.
func reported(sc *scratch, c hit, cs int) bool {
	for _, r := range sc.report {
		if r.start >= cs && r.end <= c.start && c.start-r.end <= doubtWindow {
			return true
		}
	}
	return false
}

// echoDenied reports whether the claim's verb comes back negated after it
// in the clause, the topic-comment way of refusing (加微信我是不会加的,
// 叫我加他微信我不加的): a real negation, then within two runes a trade or
// speech verb that also stands in the claim or just before it. A
// condition (不加就抢不到了, 不加的话) refuses nothing.
func (m *matcher) echoDenied(nt *normText, sc *scratch, c hit, ce int) bool {
	from := max(c.start-2, 0)
	for _, ng := range sc.neg {
		if ng.start < c.end || ng.end > ce || ng.start-c.end > disownWindow || !m.realNegation(sc, ng) {
			continue
		}
		for _, v := range sc.verb {
			if v.start < ng.end || v.start-ng.end > 1 || v.end > ce {
				continue
			}
			if j := v.end; j < ce && (nt.runes[j] == '就' || hasPrefixRunes(nt.runes[j:], "的话")) {
				continue
			}
			if slices.Contains(nt.runes[from:c.end], nt.runes[v.start]) && v.end-v.start == 1 {
				return true
			}
		}
	}
	return false
}

// eitherWay reports whether the claim is said both ways, A-not-A (减肥不
// 减肥我讲不了, 保佑不保佑的): the first two runes of it again after 不 or 没.
func eitherWay(rs []rune, c hit) bool {
	k := min(2, c.end-c.start)
	i := c.end
	if i >= len(rs) || (rs[i] != '不' && rs[i] != '没') || i+1+k > len(rs) {
		return false
	}
	return slices.Equal(rs[i+1:i+1+k], rs[c.start:c.start+k])
}

// completed reports whether a 了 closes the negated predicate before the
// claim (别在这里拍了去我们小程序下单): the claim is a new sentence. After
// eating or using (吃了, 喝了) 了 only marks the action whose effect the
// claim names, so it closes nothing.
func completed(rs []rune, from, to int) bool {
	for i := from + 1; i < to; i++ {
		if rs[i] == '了' && !strings.ContainsRune("吃喝用戴抹涂泡试穿", rs[i-1]) {
			return true
		}
	}
	return false
}

// newSubject reports whether a person is named between a negation and the
// claim, after the negated word (评论区不好回你们私底下来找我): without punctuation that person starts a new clause, so
// the negation stops there. A negation right before the person (不是我们家
// 最好) still reaches the claim, and a negated verb of saying (不敢跟你们说)
// is not cut: the caller widens its reach instead.
func newSubject(rs []rune, from, to int) bool {
	for i := from + 1; i < to; i++ {
		if strings.ContainsRune("让叫给跟和替帮把对被", rs[i-1]) {
			continue // the person is the negated verb's object (不会让大家去…)
		}
		switch rs[i] {
		case '你', '我', '咱', '他', '她':
			return true
		case '大':
			if i+1 < to && rs[i+1] == '家' {
				return true
			}
		}
	}
	return false
}

// corrected reports whether a 不是 is answered by a 是 before the claim
// (这个不是药是食疗补肾的): the claim is what it is, not what it is not.
func corrected(rs []rune, ng hit, claim int) bool {
	shi := ng.end - 1 // the 是 of 不是 / 并不是
	if shi < 0 || rs[shi] != '是' {
		shi = ng.end // the negation hit was just 不
		if shi >= len(rs) || rs[shi] != '是' {
			return false
		}
	}
	for i := shi + 2; i < claim; i++ {
		if rs[i] == '是' {
			return true
		}
	}
	return false
}

// governsSpeech reports whether a negation is followed closely by a verb
// of saying or promising (不敢说, 不会跟你们讲, 从不承诺).
func governsSpeech(sc *scratch, ng hit) bool {
	for _, v := range sc.speech {
		if v.start >= ng.end && v.start-ng.end <= 4 {
			return true
		}
	}
	return false
}

// deniedAt reports whether a real negation ends at i or runs over it
// (不 or 不是 of 不是乱讲).
func deniedAt(sc *scratch, i int) bool {
	for _, ng := range sc.neg {
		if ng.start < i && ng.end >= i && negationIsReal(sc, ng) {
			return true
		}
	}
	return false
}

// negatedBefore reports whether a real negation ends just before i
// (不用去医院, 用不着看医生).
func (m *matcher) negatedBefore(sc *scratch, i int) bool {
	for _, ng := range sc.neg {
		if ng.end <= i && i-ng.end <= 2 && m.realNegation(sc, ng) {
			return true
		}
	}
	return false
}

// realNegation reports whether a negation hit is not part of a longer
// word that only looks like one (不仅, 不错, 别人).
func (m *matcher) realNegation(sc *scratch, ng hit) bool { return negationIsReal(sc, ng) }

func negationIsReal(sc *scratch, ng hit) bool {
	for _, nn := range sc.notNeg {
		if nn.start <= ng.start && ng.end <= nn.end && nn.end-nn.start > ng.end-ng.start {
			return false
		}
	}
	return true
}

// governsVerb reports whether a negation is followed by a speech or trade
// verb (不说, 不敢保证, 不卖) or ends the clause (这种功效我们没有).
func governsVerb(sc *scratch, ng hit, ce int) bool {
	if ng.end >= ce {
		return true
	}
	for _, v := range sc.verb {
		if v.start >= ng.end && v.start-ng.end <= 2 {
			return true
		}
	}
	return false
}

// endsPredicate reports whether a negation closes what she says about the
// topic before a correction starts (国家认可什么的我们没有，就是村里的手艺;
// 我们没有的就是自己家做的): a 的 may close it, then 就是 or 只是, which the
// normaliser drops as a filler, so the original text is read.
func endsPredicate(nt *normText, sc *scratch, ng hit, ce int) bool {
	i := ng.end
	if i < ce && nt.runes[i] == '的' {
		i++
	}
	if i >= ce {
		return true
	}
	o := int(nt.spans[i-1].end)
	for _, w := range [...]string{"就是", "只是", "就只是"} {
		if hasPrefixRunes(sc.orig[o:], w) {
			return true
		}
	}
	return false
}

func hasPrefixRunes(rs []rune, w string) bool {
	i := 0
	for _, r := range w {
		if i >= len(rs) || rs[i] != r {
			return false
		}
		i++
	}
	return true
}

// notAboutProduct reports whether an absolute word qualifies something
// other than the product: a head noun right after it (最好吃的吃法), or a
// nearest subject before it in the clause that is a person, team or
// service rather than the product (我们村的篮球队拿过县里第一名).
func (m *matcher) notAboutProduct(sc *scratch, c hit, cs, ce int) bool {
	for _, h := range sc.head {
		if h.start >= c.end && h.start-c.end <= headGap && h.end <= ce {
			return true
		}
	}
	nearest, other := -1, false
	for _, s := range sc.subj {
		if s.start >= cs && s.end <= c.start && s.end > nearest {
			nearest, other = s.end, true
		}
	}
	for _, p := range sc.prod {
		if p.start >= cs && p.end <= c.start && p.end >= nearest {
			nearest, other = p.end, false
		}
	}
	return other
}

// serviceAfter reports whether the guarantee's outcome is a delivery or
// after-sales one (绝对不会 + 发错, 百分百 + 给您补发): it follows the
// guarantee within serviceGap runes in its clause.
func serviceAfter(sc *scratch, c hit, ce int) bool {
	for _, s := range sc.svc {
		if s.start >= c.end && s.start-c.end <= serviceGap && s.end <= ce {
			return true
		}
	}
	return false
}

// clauseOf returns the clause [start,end) holding position i.
func clauseOf(breaks []int, i, n int) (int, int) {
	s, e := 0, n
	for _, b := range breaks {
		if b <= i {
			s = b
		} else {
			e = b
			break
		}
	}
	return s, e
}

// textWords returns the dictionary words of the scanned text, found once
// for the boundary checks and the category model both.
func (sc *scratch) textWords(seg segmenter, nt *normText) *wordHits {
	if !sc.wordsFound {
		seg.findWords(nt.runes, &sc.wordHits)
		sc.wordsFound = true
	}
	return &sc.wordHits
}

// atBoundary reports whether position i is a word boundary, asking the
// segmenter about a small window around it (segmenting the whole clause
// would cost more and decide nothing more).
func (m *matcher) atBoundary(nt *normText, sc *scratch, i, cs, ce int) bool {
	if i <= cs || i >= ce {
		return true
	}
	// Something was dropped here (a filler, a space, a symbol): the
	// speaker broke the word, so this is a boundary.
	if nt.spans[i-1].end != nt.spans[i].start {
		return true
	}
	const reach = 4
	ws, we := max(cs, i-reach), min(ce, i+reach)
	return m.seg.boundaryAt(nt.runes, sc.textWords(m.seg, nt), ws, we, i)
}

// mergeOverlaps keeps, among overlapping findings of one category, the
// longest (全网最低价 rather than both 全网最低 and 最低价).
func (m *matcher) mergeOverlaps(vs []verdict) []verdict {
	if len(vs) < 2 {
		return vs
	}
	// by start, the longer first: an insertion sort, stable, of the few
	// findings of one line
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && (vs[j].start < vs[j-1].start || vs[j].start == vs[j-1].start && vs[j].end-vs[j].start > vs[j-1].end-vs[j-1].start); j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
	out := vs[:0]
	for _, f := range vs {
		merged := false
		for k := range out {
			g := &out[k]
			if m.ruleCat[g.rule] == m.ruleCat[f.rule] && f.start < g.end && g.start < f.end {
				// one warning for the whole phrase (全网最 + 最正宗 →
				// 全网最正宗), under the rule that matched more of it
				if f.end-f.start > g.end-g.start {
					g.rule = f.rule
				}
				g.start, g.end = min(g.start, f.start), max(g.end, f.end)
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, f)
		}
	}
	return out
}
