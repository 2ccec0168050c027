package lint

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"unicode/utf8"
)

// The category model catches what the rules cannot list: a claim said in
// words no pattern has (农科院的老师说…是别的姜的四倍). It is one logistic
// regression per category over hashed character 1- to 3-grams of the
// normalised text, trained by TestCategoryModelIsReproducible on the
// labelled sets that may be tuned on (never final.tsv or a frozen set).
//
// Which lines it may speak on is in the file's flags: with flagHedged
// and flagRuled it judges every whole utterance, but on one that holds a
// negation, disclaimer, doubt, wish or doctor referral, or a word a rule
// used to judge it, it must be surer (hedgedLogit), because there a bag of
// characters can hardly tell a claim from its denial and the rules have
// already weighed it; without them it keeps quiet on such lines.
//
//go:embed model/category.bin
var categoryModelBin []byte

const (
	modelMagic = "CBM3"
	// modelMinRunes is the shortest normalised utterance the model judges:
	// a recogniser's partial caption (我们家是全网) is too short to be a
	// claim on its own, and the rules catch the phrase once it is whole.
	modelMinRunes = 8
	// modelMaxRunes is the longest one it judges: its scores are sums over
	// the text's features and grow with its length, so over a file read as
	// one line (the longest training line is 131 runes) they mean nothing.
	modelMaxRunes = 400
	// modelVetoMaxRunes is the longest utterance whose rule findings the
	// model may clear: 99 % of the lines it learned from are this long or
	// shorter, and past that the words around a listed phrase outweigh it
	// (a 20-second caption ending in 全网最低价 scored as clean).
	modelVetoMaxRunes = 30
	// modelScopedMaxN is the longest n-gram drawn again inside a hedged
	// clause: short ones say what is negated, long ones only repeat the
	// plain features.
	modelScopedMaxN = 3
)

// Model flags, stored in the file so inference reads text the way the
// model was trained.
const (
	// flagScoped adds the n-grams of every clause holding a negation,
	// disclaimer, doubt, wish or doctor referral a second time, marked as
	// hedged, so the model can tell 最好 from 不敢说最好.
	flagScoped = 1 << iota
	// flagHedged lets the model judge utterances that hold such a word;
	// without scoped features it cannot tell a claim from its denial.
	flagHedged
	// flagVeto lets the model drop a rule finding whose category it scores
	// below the category's veto threshold.
	flagVeto
	// flagWords adds gse's words and word pairs (model_words.go).
	flagWords
	// flagPOS adds parts of speech: each word with the tag before it, tag
	// bigrams and trigrams.
	flagPOS
	// flagWordScope draws the word features of a hedged clause again,
	// marked as hedged, as flagScoped does for n-grams.
	flagWordScope
	// flagAdd lets the model add a category to a line the rules flagged
	// for another (a health claim said around a listed superlative).
	flagAdd
	// flagRuled lets the model judge a line a rule word has already
	// judged (an allow-phrase, an exception, her own range, a head or
	// subject that is not the product), at the hedged-line threshold;
	// the words of an allow-phrase or exception are masked from its
	// features, since a person has said they are no evidence.
	flagRuled
)

// catModel is a decoded category model: int8 weights with one scale per
// category.
type catModel struct {
	dim   uint32
	maxN  int
	flags byte
	cats  []string
	// ruleIDs name the model's findings: "model-" and the category
	ruleIDs []string
	bias    []float32
	scale   []float32
	// logit is the score a category must exceed to be reported, veto the
	// score below which a rule finding of the category is dropped.
	logit, veto []float32
	// hedgedVeto is, per category, the score below which a rule finding
	// is dropped on a hedged line, where the rules have weighed the
	// negation and a bag of words has not (-Inf: never there).
	hedgedVeto []float32
	// hedgedLogit, when above logit, is the score a category must exceed
	// on a line that holds a hedge or a rule word that judged it: there a
	// bag of words is least sure, so it must be surer.
	hedgedLogit float32
	// lanes holds the weights feature-major, four categories to a word:
	// category k of feature f is the 16-bit lane k%4 of
	// lanes[f*laneWords+k/4], holding the int8 weight plus 128. Summing
	// a feature's weights is then a few 64-bit adds instead of one add
	// per category, which is most of what scoring costs.
	lanes     []uint64
	laneWords int
	// gatesV are the score gates, laid out on first use (gates).
	gatesOnce sync.Once
	gatesV    *scoreGates
}

// laneBias keeps every lane non-negative.
const laneBias = 128

// laneFlush bounds how many features a lane sums before it is emptied:
// 255 × 256 still fits in 16 bits.
const laneFlush = 256

// setWeights lays out weights given as w[f*len(cats)+k] for the model's
// categories, and names their findings' rules.
func (cm *catModel) setWeights(w []int8) {
	cm.nameRules()
	n := len(cm.cats)
	cm.laneWords = (n + 3) / 4
	cm.lanes = make([]uint64, int(cm.dim)*cm.laneWords)
	for f := range int(cm.dim) {
		for k := range n {
			cm.lanes[f*cm.laneWords+k/4] |= uint64(int(w[f*n+k])+laneBias) << (16 * (k % 4))
		}
	}
}

// nameRules gives every category its finding's rule ID once, not per
// finding.
func (cm *catModel) nameRules() {
	cm.ruleIDs = make([]string, len(cm.cats))
	for k, cat := range cm.cats {
		cm.ruleIDs[k] = "model-" + cat
	}
}

var defaultModel = sync.OnceValues(func() (*catModel, error) {
	return decodeModel(categoryModelBin)
})

func decodeModel(b []byte) (*catModel, error) {
	if len(b) < 16 || string(b[:4]) != modelMagic {
		return nil, errors.New("category model: bad header")
	}
	dim := binary.LittleEndian.Uint32(b[4:])
	ncat := binary.LittleEndian.Uint32(b[8:])
	maxN, flags := int(b[12]), b[13]
	if dim < 1<<10 || dim > 1<<20 || dim&(dim-1) != 0 || ncat == 0 || ncat > 64 || maxN < 1 || maxN > 6 {
		return nil, fmt.Errorf("category model: dimension %d, %d categories, n-grams up to %d", dim, ncat, maxN)
	}
	cm := &catModel{dim: dim, maxN: maxN, flags: flags}
	w := make([]int8, int(dim)*int(ncat))
	// byte 14: the hedged-line threshold as a probability in hundredths
	// (0: the category's own threshold)
	if hp := b[14]; hp >= 100 {
		return nil, fmt.Errorf("category model: hedged-line threshold %d%%", hp)
	} else if hp > 0 {
		p := float64(hp) / 100
		cm.hedgedLogit = float32(math.Log(p / (1 - p)))
	}
	p := 16
	for range ncat {
		if p+1 > len(b) {
			return nil, errors.New("category model: truncated")
		}
		n := int(b[p])
		p++
		if p+n+20+int(dim) > len(b) {
			return nil, errors.New("category model: truncated")
		}
		cat := string(b[p : p+n])
		if CategoryName(cat) == "" {
			return nil, fmt.Errorf("category model: unknown category %q", cat)
		}
		p += n
		f32 := func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[p+i:])) }
		cm.cats = append(cm.cats, cat)
		cm.bias = append(cm.bias, f32(0))
		cm.scale = append(cm.scale, f32(4))
		cm.logit = append(cm.logit, f32(8))
		cm.veto = append(cm.veto, f32(12))
		cm.hedgedVeto = append(cm.hedgedVeto, f32(16))
		p += 20
		k := len(cm.cats) - 1
		for f := range int(dim) {
			w[f*int(ncat)+k] = int8(b[p+f])
		}
		p += int(dim)
	}
	if p != len(b) {
		return nil, errors.New("category model: trailing bytes")
	}
	cm.setWeights(w)
	return cm, nil
}

// utf8Packed is r's UTF-8 encoding, first byte lowest, and its length:
// the FNV loops fold bytes, and encoding each rune once per text instead of
// once per n-gram holding it spares most of their work.
func utf8Packed(r rune) (uint32, int) {
	switch u := uint32(r); {
	case u < 0x80:
		return u, 1
	case u < 0x800:
		return (0xC0 | u>>6) | (0x80|u&0x3F)<<8, 2
	case u >= 0xD800 && u <= 0xDFFF || u > utf8.MaxRune:
		return 0xEF | 0xBF<<8 | 0xBD<<16, 3 // utf8.RuneError, as EncodeRune writes it
	case u < 0x10000:
		return (0xE0 | u>>12) | (0x80|u>>6&0x3F)<<8 | (0x80|u&0x3F)<<16, 3
	}
	u := uint32(r)
	return (0xF0 | u>>18) | (0x80|u>>12&0x3F)<<8 | (0x80|u>>6&0x3F)<<16 | (0x80|u&0x3F)<<24, 4
}

// packedText is a text's runes UTF-8 packed, framed by the start and end
// marks: packed[0] is '^', packed[i+1] the i-th rune, the last '$'. A
// length of 0 marks a masked rune.
type packedText struct {
	bytes []uint32
	n     []uint8
	// masked tells whether any rune is masked at all, as seldom happens
	masked bool
}

// foldRune folds one packed rune of n bytes into an FNV-1a hash.
func foldRune(h, b uint32, n uint8) uint32 {
	if n == 3 { // nearly every rune of Chinese speech
		h = (h ^ b&0xFF) * fnvPrime
		h = (h ^ b>>8&0xFF) * fnvPrime
		return (h ^ b>>16) * fnvPrime
	}
	for ; n > 0; n-- {
		h = (h ^ b&0xFF) * fnvPrime
		b >>= 8
	}
	return h
}

func (p *packedText) pack(rs []rune) {
	p.bytes, p.n = grow(p.bytes, len(rs)+2), grow(p.n, len(rs)+2)
	p.bytes[0], p.n[0] = '^', 1
	p.masked = false
	for i, r := range rs {
		var b uint32
		var n int
		// three bytes, as nearly every rune of Chinese speech, encoded
		// here rather than in a call per rune
		if u := uint32(r); u-0x800 < 0xD800-0x800 || u-0xE000 < 0x10000-0xE000 {
			b, n = (0xE0|u>>12)|(0x80|u>>6&0x3F)<<8|(0x80|u&0x3F)<<16, 3
		} else if u < 0x80 { // digits and Latin letters
			b, n = u, 1
		} else {
			b, n = utf8Packed(r)
		}
		if r == maskRune {
			n, p.masked = 0, true
		}
		p.bytes[i+1], p.n[i+1] = b, uint8(n)
	}
	p.bytes[len(rs)+1], p.n[len(rs)+1] = '$', 1
}

// hashGrams appends the bucket of every 1- to maxN-gram of rs[from:to]
// (rs as packed), framed by start and end marks when the range reaches
// the ends, salted so hedged-clause n-grams differ from plain ones,
// leaving out those holding a masked rune.
func hashGrams(p *packedText, from, to, maxN int, salt uint32, dim uint32, into []uint32) []uint32 {
	// packed positions: rune i is at i+1; the marks at 0 and len(rs)+1
	// count when the range reaches the ends
	lo, hi := from+1, to+1
	if from == 0 {
		lo = 0
	}
	if to == len(p.bytes)-2 {
		hi = to + 2
	}
	if maxN == 3 {
		return hashGrams3(p, lo, hi, salt, dim, into)
	}
	return hashGramsBySize(p, lo, hi, maxN, salt, dim, into)
}

func gramSeed(salt uint32, size int) uint32 {
	return ((uint32(fnvOffset)^salt)*fnvPrime ^ uint32(size)) * fnvPrime
}

// hashGramsBySize hashes the n-grams of packed positions [lo, hi), all
// 1-grams first, then 2-grams and so on: the model is trained on its
// features in that order.
func hashGramsBySize(p *packedText, lo, hi, maxN int, salt uint32, dim uint32, into []uint32) []uint32 {
	for size := 1; size <= maxN; size++ {
		seed := gramSeed(salt, size)
		for i := lo; i+size <= hi; i++ {
			h := seed
			bs, ns := p.bytes[i:i+size], p.n[i:i+size]
			for k, b := range bs {
				h = foldRune(h, b, ns[k])
			}
			if p.masked && slices.Contains(ns, 0) {
				continue
			}
			into = append(into, h&(dim-1))
		}
	}
	return into
}

// hashGrams3 is hashGramsBySize for 1- to 3-grams (the shipped model's)
// in one pass over the runes: each lands where hashGramsBySize would put
// it. A pass per size paid more for its loops than for its hashes.
func hashGrams3(p *packedText, lo, hi int, salt uint32, dim uint32, into []uint32) []uint32 {
	n := hi - lo
	if n < 3 {
		return hashGramsBySize(p, lo, hi, 3, salt, dim, into)
	}
	s1, s2, s3 := gramSeed(salt, 1), gramSeed(salt, 2), gramSeed(salt, 3)
	at1 := len(into)
	into = slices.Grow(into, 3*n-3)[:at1+3*n-3]
	ones, twos, threes := into[at1:at1+n], into[at1+n:at1+2*n-1], into[at1+2*n-1:]
	bs, ns := p.bytes[lo:hi], p.n[lo:hi]
	ns = ns[:len(bs)]
	for i := range len(bs) - 2 {
		b0, b1, b2 := bs[i], bs[i+1], bs[i+2]
		n0, n1, n2 := ns[i], ns[i+1], ns[i+2]
		ones[i] = foldRune(s1, b0, n0) & (dim - 1)
		twos[i] = foldRune(foldRune(s2, b0, n0), b1, n1) & (dim - 1)
		threes[i] = foldRune(foldRune(foldRune(s3, b0, n0), b1, n1), b2, n2) & (dim - 1)
	}
	k := len(bs) - 2
	ones[k] = foldRune(s1, bs[k], ns[k]) & (dim - 1)
	ones[k+1] = foldRune(s1, bs[k+1], ns[k+1]) & (dim - 1)
	twos[k] = foldRune(foldRune(s2, bs[k], ns[k]), bs[k+1], ns[k+1]) & (dim - 1)
	if !p.masked {
		return into
	}
	// the n-grams holding a masked rune are left out, the others keep
	// their order
	const gone = ^uint32(0) // no bucket: dim is at most 1<<20
	for i, n := range ns {
		if n != 0 {
			continue
		}
		ones[i] = gone
		for j := max(i-1, 0); j <= min(i, len(twos)-1); j++ {
			twos[j] = gone
		}
		for j := max(i-2, 0); j <= min(i, len(threes)-1); j++ {
			threes[j] = gone
		}
	}
	kept := into[:at1]
	for _, h := range into[at1:] {
		if h != gone {
			kept = append(kept, h)
		}
	}
	return kept
}

// features appends every feature bucket of the scanned utterance to into.
func (cm *catModel) features(seg segmenter, nt *normText, sc *scratch, into []uint32) []uint32 {
	rs := nt.runes
	masking := cm.flags&flagRuled != 0 && len(sc.allow)+len(sc.except) > 0
	if masking {
		rs = maskSpans(append(sc.masked[:0], rs...), sc.allow, sc.except)
		sc.masked = rs
	}
	sc.packed.pack(rs)
	into = hashGrams(&sc.packed, 0, len(rs), cm.maxN, 0, cm.dim, into)
	words := cm.flags&(flagWords|flagPOS) != 0
	if words {
		// the masked copy has words of its own; the text's are shared
		// with the boundary checks
		var hits *wordHits
		if masking {
			seg.findWords(rs, &sc.words.hits)
			hits = &sc.words.hits
		} else {
			hits = sc.textWords(seg, nt)
		}
		seg.cut(rs, hits, &sc.words)
		into = cm.wordFeatures(&sc.packed, &sc.words, 0, len(rs), 0, into)
	}
	if cm.flags&flagScoped == 0 || len(sc.neg)+len(sc.discl)+len(sc.doubt)+len(sc.wish)+len(sc.refer) == 0 {
		return into // no hedged clause to copy
	}
	// each hedged clause once, however many hedge words it holds
	lastFrom := -1
	scope := func(hs []hit, salt uint32) {
		for _, h := range hs {
			from, to := 0, len(rs)
			for _, b := range sc.breaks {
				if b <= h.start && b > from {
					from = b
				}
				if b > h.start && b < to {
					to = b
				}
			}
			if from == lastFrom || from >= to {
				continue
			}
			lastFrom = from
			into = hashGrams(&sc.packed, from, to, min(cm.maxN, modelScopedMaxN), salt, cm.dim, into)
			if words && cm.flags&flagWordScope != 0 {
				into = cm.wordFeatures(&sc.packed, &sc.words, from, to, salt, into)
			}
		}
	}
	var neg []hit
	for _, h := range sc.neg {
		if negationIsReal(sc, h) {
			neg = append(neg, h)
		}
	}
	scope(neg, 'N')
	lastFrom = -1
	scope(sc.discl, 'D')
	lastFrom = -1
	scope(sc.doubt, 'D')
	lastFrom = -1
	scope(sc.wish, 'W')
	lastFrom = -1
	scope(sc.refer, 'R')
	return into
}

// maskRune stands in for a masked word: no n-gram or word holding it
// is a feature, so cleared words are no evidence either way.
const maskRune = '\uFFFC'

// maskSpans overwrites the runes of every span with maskRune; positions
// stay where the clause breaks and hedge hits point.
func maskSpans(rs []rune, spans ...[]hit) []rune {
	for _, hs := range spans {
		for _, h := range hs {
			for i := max(h.start, 0); i < h.end && i < len(rs); i++ {
				rs[i] = maskRune
			}
		}
	}
	return rs
}

// sums returns each category's sum of weights for the scanned utterance
// (the score before bias and scale), computing them once per scan.
func (cm *catModel) sums(seg segmenter, nt *normText, sc *scratch) *[64]int32 {
	if !sc.words.scored {
		sc.words.sums = cm.sumWeights(seg, nt, sc)
		sc.words.scored = true
	}
	return &sc.words.sums
}

// scoreAt is category k's logit for a sum of its weights: the one
// expression every decision about a score is made with.
func (cm *catModel) scoreAt(k int, sum int32) float32 {
	return cm.bias[k] + cm.scale[k]*float32(sum)
}

func (cm *catModel) sumWeights(seg segmenter, nt *normText, sc *scratch) [64]int32 {
	var sums [64]int32
	var acc [16]uint64
	n, lw := len(cm.cats), cm.laneWords
	flush := func(count int) {
		for k := range n {
			sums[k] += int32(acc[k/4]>>(16*(k%4))&0xFFFF) - int32(laneBias*count)
		}
		acc = [16]uint64{}
	}
	sc.feats = cm.features(seg, nt, sc, sc.feats[:0])
	for rest := sc.feats; len(rest) > 0; {
		batch := rest[:min(len(rest), laneFlush)]
		rest = rest[len(batch):]
		if lw == 3 { // nine to twelve categories, as the shipped model has
			for _, f := range batch {
				l := cm.lanes[int(f)*3 : int(f)*3+3 : int(f)*3+3]
				acc[0], acc[1], acc[2] = acc[0]+l[0], acc[1]+l[1], acc[2]+l[2]
			}
		} else {
			for _, f := range batch {
				for j, v := range cm.lanes[int(f)*lw : int(f)*lw+lw] {
					acc[j] += v
				}
			}
		}
		flush(len(batch))
	}
	return sums
}

// scoreGates hold, per category, the least sum of weights at which each
// decision about its score comes out true: whether it speaks (above
// logit, or above the doubtful bar) and whether a rule finding of it
// stands (at or above veto, or the hedged veto). Every decision is then
// an integer comparison where it was a float conversion, multiply, add
// and compare, each a helper call on an emulated arm64 box.
type scoreGates struct {
	speak, speakDoubtful, keep, keepHedged []int64
}

// gateNever and gateAlways are the gates of a decision no sum makes
// true, or every sum does.
const (
	gateNever  = math.MaxInt64
	gateAlways = math.MinInt64
)

// gates lays out the model's gates once. It returns nil when a score is
// not sure to grow with the sum (a scale that is not a positive number,
// a bias that is not finite) or a bar is missing: decisions are then made
// on the floats.
func (cm *catModel) gates() *scoreGates {
	cm.gatesOnce.Do(func() {
		n := len(cm.cats)
		if len(cm.bias) != n || len(cm.scale) != n || len(cm.logit) != n || len(cm.veto) != n || len(cm.hedgedVeto) != n {
			return // a model put together by hand, without every bar
		}
		for k := range cm.cats {
			b, sc := float64(cm.bias[k]), float64(cm.scale[k])
			if !(sc > 0) || math.IsInf(sc, 0) || math.IsNaN(b) || math.IsInf(b, 0) {
				return
			}
		}
		g := &scoreGates{}
		for k := range cm.cats {
			speak, doubtful := cm.logit[k], max(cm.logit[k], cm.hedgedLogit)
			keep, hedged := cm.veto[k], min(cm.veto[k], cm.hedgedVeto[k])
			g.speak = append(g.speak, cm.leastSum(k, func(s float32) bool { return !(s <= speak) }))
			g.speakDoubtful = append(g.speakDoubtful, cm.leastSum(k, func(s float32) bool { return !(s <= doubtful) }))
			g.keep = append(g.keep, cm.leastSum(k, func(s float32) bool { return s >= keep }))
			g.keepHedged = append(g.keepHedged, cm.leastSum(k, func(s float32) bool { return s >= hedged }))
		}
		cm.gatesV = g
	})
	return cm.gatesV
}

// leastSum is the least int32 sum whose score makes decide true, by
// bisection: decide must be false below it and true from it on, as it is
// for a score that grows with the sum.
func (cm *catModel) leastSum(k int, decide func(float32) bool) int64 {
	lo, hi := int64(math.MinInt32), int64(math.MaxInt32)
	switch {
	case decide(cm.scoreAt(k, int32(lo))):
		return gateAlways
	case !decide(cm.scoreAt(k, int32(hi))):
		return gateNever
	}
	for hi-lo > 1 { // decide(lo) is false, decide(hi) true
		mid := lo + (hi-lo)/2
		if decide(cm.scoreAt(k, int32(mid))) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// hedged reports whether the utterance holds any word that makes a bag of
// characters unreliable (see the comment on categoryModelBin).
func (m *matcher) hedged(sc *scratch) bool {
	return hedgeWords(sc) || ruled(sc)
}

// hedgeWords reports whether the utterance holds a negation, disclaimer,
// doubt, wish or doctor referral: words whose scope the rules weigh.
func hedgeWords(sc *scratch) bool {
	for _, ng := range sc.neg {
		if negationIsReal(sc, ng) {
			return true
		}
	}
	return len(sc.discl) > 0 || len(sc.doubt) > 0 || len(sc.wish) > 0 || len(sc.refer) > 0
}

// ruled reports whether a rule word has already judged the line: an
// allow-phrase, a rule exception, her own range, or a head or subject that
// is not the product. Scoped features cover negations and the like, not
// these.
func ruled(sc *scratch) bool {
	return len(sc.except) > 0 || len(sc.allow) > 0 || len(sc.own) > 0 || len(sc.head) > 0 || len(sc.subj) > 0
}

// modelFindings adds a finding for every category the model is sure of,
// over the whole utterance, explained by the pack's first rule of that
// category. It runs only when the rules found nothing.
func (m *matcher) modelFindings(nt *normText, sc *scratch, into []Finding) []Finding {
	return m.modelAdds(nt, sc, into, len(into))
}

// modelMore adds the model's categories to a line whose rule findings are
// into[from:], when the model was trained to (flagAdd).
func (m *matcher) modelMore(nt *normText, sc *scratch, into []Finding, from int) []Finding {
	if m.model == nil || m.model.flags&flagAdd == 0 || len(into) == from {
		return into
	}
	return m.modelAdds(nt, sc, into, from)
}

// modelAdds appends a finding for every category the model is sure of
// that into[from:] does not already hold.
func (m *matcher) modelAdds(nt *normText, sc *scratch, into []Finding, from int) []Finding {
	cm := m.model
	if cm == nil || len(nt.runes) < modelMinRunes || len(nt.runes) > modelMaxRunes || !sc.final && m.endsPending(nt.runes) {
		return into
	}
	doubtful := ruled(sc)
	if doubtful && cm.flags&flagRuled == 0 {
		return into
	}
	if !doubtful && m.hedged(sc) {
		if cm.flags&flagHedged == 0 {
			return into
		}
		doubtful = true
	}
	sums, g := cm.sums(m.seg, nt, sc), cm.gates()
	n := len(into)
	for k, cat := range cm.cats {
		var speaks bool
		switch {
		case g == nil:
			bar := cm.logit[k]
			if doubtful {
				bar = max(bar, cm.hedgedLogit)
			}
			speaks = !(cm.scoreAt(k, sums[k]) <= bar)
		case doubtful:
			speaks = int64(sums[k]) >= g.speakDoubtful[k]
		default:
			speaks = int64(sums[k]) >= g.speak[k]
		}
		if !speaks || slices.ContainsFunc(into[from:n], func(f Finding) bool { return f.Category == cat }) || m.weighed(sc, cat) {
			continue
		}
		told, ok := m.told(cat)
		if !ok {
			continue
		}
		sp := nt.spanOf(0, len(nt.runes))
		into = append(into, Finding{
			Category: cat, Rule: cm.ruleIDs[k],
			Start: int(sp.start), End: int(sp.end), Match: sc.said(sp),
			Law: told.Law, Explain: told.Explain, Suggest: told.Suggest,
		})
	}
	return into
}

// weighed reports whether the rules had a candidate of the category in
// the utterance and cleared it (a negation's scope, a dismissal, a head
// that is not the product): they have read those words, and a bag of
// them must not say the opposite.
func (m *matcher) weighed(sc *scratch, cat string) bool {
	if len(sc.doubt)+len(sc.discl) == 0 {
		return false
	}
	return slices.ContainsFunc(sc.cands, func(c hit) bool { return m.rules[m.pats[c.idx].rule].Category == cat })
}

// veto clears an utterance whose every rule finding is of a category the
// model is sure the utterance does not hold, when the model was trained
// to. It clears the whole utterance or nothing: the veto exists to spare a
// clean line a warning, and a line with one finding the model does not
// doubt is not clean, so its other findings stand too.
func (m *matcher) veto(nt *normText, sc *scratch, vs []verdict) []verdict {
	cm := m.model
	if cm == nil || cm.flags&flagVeto == 0 || len(vs) == 0 || len(nt.runes) < modelMinRunes || len(nt.runes) > modelVetoMaxRunes {
		return vs
	}
	for _, v := range vs {
		if m.vetoCat[v.rule] < 0 {
			return vs
		}
	}
	hedged := hedgeWords(sc)
	sums, g := cm.sums(m.seg, nt, sc), cm.gates()
	for _, v := range vs {
		k := int(m.vetoCat[v.rule])
		var stands bool
		switch {
		case g == nil:
			bar := cm.veto[k]
			if hedged {
				bar = min(bar, cm.hedgedVeto[k])
			}
			stands = cm.scoreAt(k, sums[k]) >= bar
		case hedged:
			stands = int64(sums[k]) >= g.keepHedged[k]
		default:
			stands = int64(sums[k]) >= g.keep[k]
		}
		if stands {
			return vs
		}
	}
	return vs[:0]
}

// endsPending reports whether rs ends with the beginning of a rule
// pattern (今天的辣椒酱全网 …): a partial caption the rules will judge once
// the speaker finishes the phrase. A final one is whole and is judged.
func (m *matcher) endsPending(rs []rune) bool {
	// From the root over the last pendingMaxRunes runes, the automaton
	// stops at the longest suffix of them that spells a node; its fail
	// chain holds every shorter one.
	n := int32(0)
	for _, r := range rs[max(0, len(rs)-pendingMaxRunes):] {
		n = m.ac.step(n, r)
	}
	for ; n > 0; n = m.ac.nodes[n].fail {
		if m.pendingAt[n] {
			return true
		}
	}
	return false
}

// told is what a finding of the category with no rule behind it says: the
// pack's [category] text, or, in a pack written before those existed,
// the category's first rule's (false when the pack has neither, so the
// model never reports what nobody can explain).
func (m *matcher) told(cat string) (CategoryText, bool) {
	for _, c := range m.pack.Explained {
		if c.Category == cat {
			return c, true
		}
	}
	for _, r := range m.rules {
		if r.Category == cat {
			return CategoryText{Category: cat, Law: r.Law, Explain: r.Explain, Suggest: r.Suggest, Line: r.Line}, true
		}
	}
	return CategoryText{}, false
}
