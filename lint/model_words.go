package lint

import (
	"math"
	"slices"
	"unicode/utf8"
)

// Word features for the category model. Character n-grams see 最 and 好
// but not whether 最好 is an adverb of advice (最好放冰箱) or a claim
// about the goods; gse's words and their parts of speech give the model
// units a paraphrase keeps when it changes every listed phrase
// (比医院开的药管用: 医院 药 管用).

// wordScratch holds one utterance's segmentation; it lives in the
// linter's pooled scratch so segmenting allocates only while growing.
type wordScratch struct {
	best []float64
	next []int32
	pos  []string
	// ends[i] is the end of the i-th word, tags[i] its part of speech
	// ("" when the dictionary does not know it).
	ends []int32
	tags []string
	// scores are the category model's logits for the text last scanned,
	// when scored: the veto and the additions after it read them once.
	scores [64]float32
	scored bool
}

// cut segments rs whole along gse's most probable route (the same route
// boundaryAt picks over a window) into ws.ends and ws.tags.
func (s segmenter) cut(rs []rune, ws *wordScratch) {
	n := len(rs)
	ws.best = grow(ws.best, n+1)
	ws.next = grow(ws.next, n+1)
	ws.pos = grow(ws.pos, n+1)
	ws.ends, ws.tags = ws.ends[:0], ws.tags[:0]
	ws.best[n], ws.next[n] = 0, int32(n)
	for k := n - 1; k >= 0; k-- {
		ws.best[k], ws.next[k], ws.pos[k] = math.Inf(-1), 0, ""
		n1, n2 := int32(0), int32(0)
		for j := k; j < n && j-k < s.maxLen; j++ {
			lf, pos, word, alive := s.segStep(&n1, &n2, rs[j])
			if !alive {
				break
			}
			if word {
				if sc := lf - s.logT + ws.best[j+1]; sc > ws.best[k] || sc == ws.best[k] && int32(j+1) > ws.next[k] {
					ws.best[k], ws.next[k], ws.pos[k] = sc, int32(j+1), pos
				}
			}
		}
		if ws.next[k] == 0 {
			ws.best[k], ws.next[k], ws.pos[k] = -s.logT+ws.best[k+1], int32(k+1), ""
		}
	}
	for k := 0; k < n; {
		e := int(ws.next[k])
		tag := ws.pos[k]
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

func fnvRunes(h uint32, rs []rune) uint32 {
	var buf [utf8.UTFMax]byte
	for _, r := range rs {
		k := utf8.EncodeRune(buf[:], r)
		for _, c := range buf[:k] {
			h = (h ^ uint32(c)) * fnvPrime
		}
	}
	return h
}

func fnvString(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * fnvPrime
	}
	return h
}

// wordFeatures emits, for the words ending within [from, to) of the cut
// utterance: each word (salt 'w'), each pair of neighbours with the
// utterance's ends as marks ('b'), and with flagPOS each word with the
// tag of the word before it ('q') and tag bigrams and trigrams ('p').
// salt separates hedged-clause copies from the plain ones.
func (cm *catModel) wordFeatures(rs []rune, ws *wordScratch, from, to int, salt uint32, emit func(uint32)) {
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
		return fnvRunes(h, rs[start(i):ws.ends[i]])
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
		return
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
		return i >= 0 && i < len(ws.ends) && slices.Contains(rs[start(i):ws.ends[i]], maskRune)
	}
	for i := first; i <= last; i++ {
		if !masked(i) {
			emit(word(seed('w'), i) & (cm.dim - 1))
		}
	}
	for i := lo; i < hi; i++ {
		if masked(i) || masked(i+1) {
			continue
		}
		h := word(seed('b'), i)
		h = word((h^'|')*fnvPrime, i+1)
		emit(h & (cm.dim - 1))
	}
	if cm.flags&flagPOS == 0 {
		return
	}
	for i := first; i <= last; i++ {
		h := tag(seed('q'), i-1)
		emit(word((h^'|')*fnvPrime, i) & (cm.dim - 1))
	}
	for i := lo; i < hi; i++ {
		emit(tag(tag(seed('p'), i), i+1) & (cm.dim - 1))
		if i+2 <= hi {
			emit(tag(tag(tag(seed('t'), i), i+1), i+2) & (cm.dim - 1))
		}
	}
}
