package lint

import (
	"math"
	"slices"
)

// Word features for the category model. Character n-grams see 最 and 好
// but not whether 最好 is an adverb of advice (最好放冰箱) or a claim
// about the goods; gse's words and their parts of speech give the model
// units a paraphrase keeps when it changes every listed phrase
// (比医院开的药管用: 医院 药 管用).

// wordScratch holds one utterance's segmentation; it lives in the
// linter's pooled scratch so segmenting allocates only while growing.
type wordScratch struct {
	hits wordHits
	best []int64
	next []int32
	pos  []int32 // tag index of the first word on the best route
	// ends[i] is the end of the i-th word, tags[i] its part of speech
	// ("" when the dictionary does not know it).
	ends []int32
	tags []string
	// sums are the category model's sums of weights for the text last
	// scanned, when scored: the veto and the additions after it read
	// them once.
	sums   [64]int32
	scored bool
}

// cut segments rs whole along gse's most probable route (the same route
// boundaryAt picks over a window) into ws.ends and ws.tags; hits are rs's
// dictionary words.
func (s segmenter) cut(rs []rune, hits *wordHits, ws *wordScratch) {
	n := len(rs)
	ws.best = grow(ws.best, n+1)
	ws.next = grow(ws.next, n+1)
	ws.pos = grow(ws.pos, n+1)
	ws.ends, ws.tags = ws.ends[:0], ws.tags[:0]
	ws.best[n], ws.next[n] = 0, int32(n)
	for k := n - 1; k >= 0; k-- {
		// the best word starting at k, kept in locals while its
		// candidates are weighed
		best, next, pos := int64(math.MinInt64), int32(0), int32(-1)
		for h := hits.head[k]; h >= 0; {
			w := hits.hits[h]
			h = w.next
			if sc := s.cost[w.key] + ws.best[w.end]; sc > best || sc == best && w.end > next {
				best, next, pos = sc, w.end, w.key
			}
		}
		if next == 0 {
			best, next = s.charCost+ws.best[k+1], int32(k+1)
		} else {
			pos = s.posIdx[pos]
		}
		ws.best[k], ws.next[k], ws.pos[k] = best, next, pos
	}
	for k := 0; k < n; {
		e := int(ws.next[k])
		tag := ""
		if t := ws.pos[k]; t >= 0 {
			tag = s.tags[t]
		}
		// like gse, runs of single Latin letters and digits form one word
		if e == k+1 && isASCIIAlnum(rs[k]) {
			for e < n && isASCIIAlnum(rs[e]) && ws.next[e] == int32(e+1) {
				e++
				tag = "x"
			}
		}
		ws.ends, ws.tags = append(ws.ends, int32(e)), append(ws.tags, tag)
		k = e
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

// fnvPacked folds the packed runes [from, to) of a text (rune positions,
// not packed ones) into h.
func fnvPacked(h uint32, p *packedText, from, to int) uint32 {
	for j := from + 1; j <= to; j++ {
		h = foldRune(h, p.bytes[j], p.n[j])
	}
	return h
}

func fnvString(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * fnvPrime
	}
	return h
}

// wordFeatures appends, for the words ending within [from, to) of the cut
// utterance: each word (salt 'w'), each pair of neighbours with the
// utterance's ends as marks ('b'), and with flagPOS each word with the
// tag of the word before it ('q') and tag bigrams and trigrams ('p').
// salt separates hedged-clause copies from the plain ones.
func (cm *catModel) wordFeatures(p *packedText, ws *wordScratch, from, to int, salt uint32, into []uint32) []uint32 {
	start := func(i int) int {
		if i == 0 {
			return 0
		}
		return int(ws.ends[i-1])
	}
	word := func(h uint32, i int) uint32 {
		switch {
		case i < 0:
			return (h ^ '^') * fnvPrime
		case i >= len(ws.ends):
			return (h ^ '$') * fnvPrime
		}
		return fnvPacked(h, p, start(i), int(ws.ends[i]))
	}
	tag := func(h uint32, i int) uint32 {
		switch {
		case i < 0:
			return (h ^ '^') * fnvPrime
		case i >= len(ws.ends):
			return (h ^ '$') * fnvPrime
		}
		return fnvString((h^'/')*fnvPrime, ws.tags[i])
	}
	seed := func(kind uint32) uint32 {
		return ((uint32(fnvOffset)^salt)*fnvPrime ^ kind) * fnvPrime
	}
	first, last := -1, -1
	for i := range ws.ends {
		if start(i) >= from && int(ws.ends[i]) <= to {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return into
	}
	// the marks count only where the range reaches the utterance's ends
	lo, hi := first, last
	if first == 0 {
		lo = -1
	}
	if last == len(ws.ends)-1 {
		hi = last + 1
	}
	// a word holding a masked rune (model.go) is no feature, alone or in
	// a pair
	masked := func(i int) bool {
		return p.masked && i >= 0 && i < len(ws.ends) && slices.Contains(p.n[start(i)+1:ws.ends[i]+1], 0)
	}
	// Words and pairs are hashed here rather than through word: a call
	// per word hashed cost an emulated arm64 box more than its hashing.
	bs, ns := p.bytes, p.n[:len(p.bytes)]
	for i, sw := first, seed('w'); i <= last; i++ {
		if masked(i) {
			continue
		}
		h := sw
		for j := start(i) + 1; j <= int(ws.ends[i]); j++ {
			h = foldRune(h, bs[j], ns[j])
		}
		into = append(into, h&(cm.dim-1))
	}
	for i, sb := lo, seed('b'); i < hi; i++ {
		if masked(i) || masked(i+1) {
			continue
		}
		h := sb
		if i < 0 {
			h = (h ^ '^') * fnvPrime
		} else {
			for j := start(i) + 1; j <= int(ws.ends[i]); j++ {
				h = foldRune(h, bs[j], ns[j])
			}
		}
		h = (h ^ '|') * fnvPrime
		if i+1 >= len(ws.ends) {
			h = (h ^ '$') * fnvPrime
		} else {
			for j := start(i+1) + 1; j <= int(ws.ends[i+1]); j++ {
				h = foldRune(h, bs[j], ns[j])
			}
		}
		into = append(into, h&(cm.dim-1))
	}
	if cm.flags&flagPOS == 0 {
		return into
	}
	for i := first; i <= last; i++ {
		h := tag(seed('q'), i-1)
		into = append(into, word((h^'|')*fnvPrime, i)&(cm.dim-1))
	}
	for i := lo; i < hi; i++ {
		into = append(into, tag(tag(seed('p'), i), i+1)&(cm.dim-1))
		if i+2 <= hi {
			into = append(into, tag(tag(tag(seed('t'), i), i+1), i+2)&(cm.dim-1))
		}
	}
	return into
}
