package lint

import (
	"slices"
	"unicode"
)

// span is a half-open range of rune offsets into the original text.
type span struct{ start, end int32 }

// normText is a rewritten copy of the text in which every rune remembers
// which original runes it came from, so findings on the copy point back at
// what the streamer actually said.
type normText struct {
	runes []rune
	spans []span
	// breaks marks clause boundaries found while rewriting (sentence
	// punctuation): a break at i means a clause starts at runes[i].
	breaks []int
}

func (t *normText) reset() {
	t.runes = t.runes[:0]
	t.spans = t.spans[:0]
	t.breaks = t.breaks[:0]
}

func (t *normText) push(r rune, s span) {
	t.runes = append(t.runes, r)
	t.spans = append(t.spans, s)
}

// spanOf returns the original span covered by runes [i,j).
func (t *normText) spanOf(i, j int) span {
	return span{t.spans[i].start, t.spans[j-1].end}
}

func (t *normText) addBreak(i int) {
	if n := len(t.breaks); n > 0 && t.breaks[n-1] == i {
		return
	}
	t.breaks = append(t.breaks, i)
}

// normalizer rewrites recogniser output into the canonical form the rule
// patterns are written in. It is built from a rule pack and is read-only
// afterwards, so one normalizer serves all goroutines.
type normalizer struct {
	fillers   *automaton
	fillerKey []acKey
	folds     *automaton
	foldKey   []acKey
	foldTo    [][]rune
	// stutter holds runes whose immediate repetition is a stutter (最最最),
	// as opposed to real doubled words (宝宝, 慢慢).
	stutter map[rune]bool
}

// normalizeScratch holds the buffers of one normalisation so repeated
// checks reuse memory.
type normalizeScratch struct {
	a, b normText
}

// normalize rewrites src (already decoded to runes) and returns the final
// text, which aliases one of the scratch buffers.
func (n *normalizer) normalize(src []rune, sc *normalizeScratch) *normText {
	return n.normalizeOpt(src, sc, true)
}

// normalizeOpt can keep fillers, which lets the rule-pack compiler spot a
// pattern that speech normalisation would silently change.
func (n *normalizer) normalizeOpt(src []rune, sc *normalizeScratch, dropFillers bool) *normText {
	// Each pass rewrites into the spare buffer only when it would change
	// something: most lines hold no filler or fold, and a copy of the
	// line per pass was a sixth of a check.
	cur, spare := &sc.a, &sc.b
	cur.reset()
	n.foldWidth(src, cur)
	if dropFillers && n.hasFiller(cur.runes) {
		spare.reset()
		n.dropFillers(cur, spare)
		cur, spare = spare, cur
	}
	if n.hasFold(cur.runes) {
		spare.reset()
		n.applyFolds(cur, spare)
		cur, spare = spare, cur
	}
	if slices.ContainsFunc(cur.runes, isCNNumeral) {
		spare.reset()
		normalizeNumbers(cur, spare)
		cur, spare = spare, cur
	}
	if hasRepeat(cur.runes) {
		spare.reset()
		n.collapseStutters(cur, spare)
		cur = spare
	}
	return cur
}

// hasFiller reports whether dropFillers would drop anything.
func (n *normalizer) hasFiller(rs []rune) bool {
	if n.fillers == nil {
		return false
	}
	for i, r := range rs {
		if n.fillers.mayStart(r) {
			if k, _ := n.fillers.longestAt(rs, i, n.fillerKey); k >= 0 {
				return true
			}
		}
	}
	return false
}

// hasFold reports whether applyFolds would rewrite anything: a fold, or
// a '+' it drops.
func (n *normalizer) hasFold(rs []rune) bool {
	for i, r := range rs {
		if r == '+' {
			return true
		}
		if n.folds != nil && n.folds.mayStart(r) {
			if k, _ := n.folds.longestAt(rs, i, n.foldKey); k >= 0 {
				return true
			}
		}
	}
	return false
}

// hasRepeat reports whether a rune follows itself anywhere in rs: only
// then has collapseStutters anything to do.
func hasRepeat(rs []rune) bool {
	for i := 1; i < len(rs); i++ {
		if rs[i] == rs[i-1] {
			return true
		}
	}
	return false
}

// isSentenceMark reports punctuation that ends a clause.
func isSentenceMark(r rune) bool {
	switch r {
	case ',', '!', '?', ';', ':', '，', '。', '！', '？', '；', '：', '、', '\n', '\r', '…':
		return true
	}
	return false
}

// foldWidth folds full-width forms and case, and drops spaces, control
// characters and symbols a speaker or typist inserts inside words
// (全 网-最*低), keeping the few symbols numbers need.
func (n *normalizer) foldWidth(src []rune, out *normText) {
	for i, r := range src {
		s := span{int32(i), int32(i + 1)}
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			r -= 0xFEE0
		case r == 0x3000:
			r = ' '
		}
		if r < 0x80 && 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		switch {
		case r >= 0x4E00 && r <= 0x9FFF:
			// the CJK unified block, nearly every rune of speech: letters
			out.push(r, s)
		case isSentenceMark(r):
			out.addBreak(len(out.runes))
		case r == '%' || r == '+':
			out.push(r, s)
		case r == '.':
			// A dot survives only as a decimal point.
			if len(out.runes) > 0 && isDigit(out.runes[len(out.runes)-1]) && i+1 < len(src) && isDigit(foldDigit(src[i+1])) {
				out.push(r, s)
			}
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if r > 0x7F && unicode.IsDigit(r) {
				r = foldDigit(r)
			}
			if r == '1' || r == '0' {
				r = loneDigit(out.runes, src, i, r)
			}
			out.push(r, s)
		default:
			// spaces, controls, symbols and other punctuation are dropped
		}
	}
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// loneDigit writes a 1 or 0 that stands alone before a Chinese character
// as the character (1点 → 一点, 1辈子 → 一辈子, 0添加 → 零添加): a
// recogniser writes either, and the patterns are written in characters.
// Numbers (10, 1.5), codes (top1, ＮＯ．１) and a digit at the end are
// kept; done is what the caller has written so far.
func loneDigit(done, src []rune, i int, r rune) rune {
	if n := len(done); n > 0 {
		if p := done[n-1]; isDigit(p) || p == '.' || p < 0x80 && unicode.IsLetter(p) {
			return r
		}
	}
	if i+1 >= len(src) || src[i+1] < 0x2E80 || !unicode.Is(unicode.Han, src[i+1]) {
		return r
	}
	if r == '1' {
		return '一'
	}
	return '零'
}

func foldDigit(r rune) rune {
	if r >= 0xFF10 && r <= 0xFF19 {
		return r - 0xFF10 + '0'
	}
	if unicode.IsDigit(r) && r > 0x7F {
		// other script digits: fold to ASCII by their numeric position
		for d := rune(0); d < 10; d++ {
			if unicode.IsDigit(r-d) && !unicode.IsDigit(r-d-1) {
				return '0' + d
			}
		}
	}
	return r
}

// dropFillers removes hesitation words (嗯 呃 那个) wherever they occur, so
// 全网最呃便宜 reads as 全网最便宜.
func (n *normalizer) dropFillers(in, out *normText) {
	bi := 0
	for i := 0; i < len(in.runes); {
		for bi < len(in.breaks) && in.breaks[bi] <= i {
			out.addBreak(len(out.runes))
			bi++
		}
		if n.fillers != nil && n.fillers.mayStart(in.runes[i]) {
			if k, l := n.fillers.longestAt(in.runes, i, n.fillerKey); k >= 0 {
				i += l
				continue
			}
		}
		out.push(in.runes[i], in.spans[i])
		i++
	}
	for ; bi < len(in.breaks); bi++ {
		out.addBreak(len(out.runes))
	}
}

// applyFolds rewrites the few homophones, disguises and dialect words the
// rule pack lists (威信→微信, 最底→最低, 莫得→没有), longest match first.
func (n *normalizer) applyFolds(in, out *normText) {
	bi := 0
	for i := 0; i < len(in.runes); {
		for bi < len(in.breaks) && in.breaks[bi] <= i {
			out.addBreak(len(out.runes))
			bi++
		}
		if n.folds != nil && n.folds.mayStart(in.runes[i]) {
			if k, l := n.folds.longestAt(in.runes, i, n.foldKey); k >= 0 {
				s := in.spanOf(i, i+l)
				for _, r := range n.foldTo[n.foldKey[k].tag] {
					out.push(r, s)
				}
				i += l
				continue
			}
		}
		if in.runes[i] != '+' {
			out.push(in.runes[i], in.spans[i])
		}
		i++
	}
	for ; bi < len(in.breaks); bi++ {
		out.addBreak(len(out.runes))
	}
}

// collapseStutters turns 最最最 into 最 for runes the pack marks as
// stutter-prone, and any run of three or more identical CJK runes. Latin
// letters and digits are left alone (qq, 666, 888).
func (n *normalizer) collapseStutters(in, out *normText) {
	bi := 0
	for i := 0; i < len(in.runes); {
		for bi < len(in.breaks) && in.breaks[bi] <= i {
			out.addBreak(len(out.runes))
			bi++
		}
		r := in.runes[i]
		j := i + 1
		for j < len(in.runes) && in.runes[j] == r {
			j++
		}
		if j-i > 1 && r > 0x7F && !isCNNumeral(r) && (n.stutter[r] || j-i >= 3) {
			out.push(r, in.spanOf(i, j))
		} else {
			for k := i; k < j; k++ {
				out.push(in.runes[k], in.spans[k])
			}
		}
		i = j
	}
	for ; bi < len(in.breaks); bi++ {
		out.addBreak(len(out.runes))
	}
}
