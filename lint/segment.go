package lint

import (
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// trimmedDict is the part of gse's Chinese dictionary a livestream needs
// (see dict/README.md). gse's full default dictionary costs ~200 MiB of
// heap and over a second to load, which a Pi cannot spare; builds use
// -tags ne so it is not even linked in.
//
//go:embed dict/zh_trim.txt
var trimmedDict string

// tradeWordFreq is the frequency given to the rule pack's own words
// (products, places, dialect) so the segmenter keeps them whole.
const tradeWordFreq = 2000

// segmenter answers where gse would cut: it follows gse's route choice
// (the most probable path through the word DAG, no HMM) over gse's
// trimmed dictionary and the rule pack's words, computed with fixed-size
// buffers because gse's Cut allocates a map per call and the linter has a
// 20 µs budget per utterance. The words live in the project's own
// automaton rather than gse's cedar trie: loading 30 000 words into cedar
// cost a cold start 60 ms and 20 MB, and one pass of an automaton finds
// every word of an utterance where walking a trie from every rune
// re-read each rune up to four times.
type segmenter struct {
	words *automaton
	// cost and posIdx are per key, read at the first key of a node: the
	// word's log-probability as gse computes it (log frequency - log
	// total), in fixed point (costScale), and its part of speech, an
	// index into tags (a few tags for 30 000 words, and an index needs no
	// copy out of a snapshot). charCost is a lone character's.
	//
	// Fixed point because a route's score is a sum of these and an
	// emulated arm64 box (qemu) pays a helper call for every float
	// addition and comparison; integer sums are exact besides, and every
	// cut over the corpora is unchanged.
	cost     []int64
	charCost int64
	posIdx   []int32
	tags     []string
	keys     []acKey
	// maxLen is the longest word in runes
	maxLen int
}

// wordList is a dictionary as parsed: words with their frequencies and
// parts of speech.
type wordList struct {
	runes int // in all words
	words [][]rune
	freqs []float64
	pos   []string
}

// baseDictionary parses the embedded dictionary once per process; it is
// never written afterwards, so every linter and every reload shares it.
var baseDictionary = sync.OnceValues(func() (*wordList, error) {
	lines := strings.Count(trimmedDict, "\n") + 1
	d := wordList{words: make([][]rune, 0, lines), freqs: make([]float64, 0, lines), pos: make([]string, 0, lines)}
	// every word's runes in one array, sized so it never moves
	all := make([]rune, 0, utf8.RuneCountInString(trimmedDict))
	rest := trimmedDict
	for n := 1; rest != ""; n++ {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		word, more, _ := strings.Cut(strings.TrimSpace(line), " ")
		freqText, p, _ := strings.Cut(strings.TrimSpace(more), " ")
		if word == "" || freqText == "" {
			continue
		}
		freq, err := strconv.ParseFloat(freqText, 64)
		if err != nil || freq <= 0 {
			return nil, fmt.Errorf("segmentation dictionary line %d: bad frequency %q", n, freqText)
		}
		from := len(all)
		for _, r := range word {
			all = append(all, r)
		}
		d.words = append(d.words, all[from:len(all):len(all)])
		d.runes += len(all) - from
		d.freqs = append(d.freqs, freq)
		d.pos = append(d.pos, strings.TrimSpace(p))
	}
	return &d, nil
})

// baseMaxLen is the longest word of the trimmed dictionary (four runes).
const baseMaxLen = 4

// newSegmenter lays the base dictionary and the pack's words out in one
// automaton. They keep gse's semantics of two dictionaries: each counts
// its own words once towards the total frequency, and a word in both
// takes the pack's frequency and part of speech only when the pack's is
// higher.
func newSegmenter(extra []string) (segmenter, error) {
	base, err := baseDictionary()
	if err != nil {
		return segmenter{}, err
	}
	b := newACBuilder()
	b.reserve(len(base.words)+len(extra), base.runes+len(extra)*maxSegWindow)
	for _, w := range base.words {
		b.add(w, 0)
	}
	nb := len(base.words)
	maxLen := baseMaxLen
	for _, w := range extra {
		if w == "" {
			continue
		}
		b.add([]rune(w), 0)
		maxLen = max(maxLen, utf8.RuneCountInString(w))
	}
	a, keys := b.build()
	s := segmenter{words: a, keys: keys, maxLen: min(maxLen, maxSegWindow)}
	logFreq, pos := make([]float64, len(keys)), make([]string, len(keys))
	var total float64
	for n := range int32(len(a.nodes)) {
		ks := a.keysAt(n)
		if len(ks) == 0 {
			continue
		}
		first := ks[0]
		// a node's keys are in the order added: the base's word, if any,
		// comes first, then the pack's
		if int(first) < nb {
			total += base.freqs[first]
			logFreq[first], pos[first] = math.Log(base.freqs[first]), base.pos[first]
			if len(ks) > 1 && int(ks[1]) >= nb {
				total += tradeWordFreq
				if tradeWordFreq > base.freqs[first] {
					logFreq[first], pos[first] = math.Log(tradeWordFreq), "n"
				}
			}
			continue
		}
		total += tradeWordFreq
		logFreq[first], pos[first] = math.Log(tradeWordFreq), "n"
	}
	logT := math.Log(total)
	s.cost = make([]int64, len(keys))
	for k, f := range logFreq {
		s.cost[k] = toCost(f - logT)
	}
	s.charCost = toCost(-logT)
	s.tags, s.posIdx = indexTags(pos)
	return s, nil
}

// costScale is 2^32: a route over a million runes stays far inside int64,
// and routes closer than 2^-32 in log-probability are a tie in all but
// name.
const costScale = 1 << 32

func toCost(logProb float64) int64 { return int64(math.Round(logProb * costScale)) }

// indexTags lists the distinct tags in the order they first appear and
// gives each position its tag's index.
func indexTags(pos []string) ([]string, []int32) {
	var tags []string
	index := map[string]int32{}
	idx := make([]int32, len(pos))
	for i, t := range pos {
		n, ok := index[t]
		if !ok {
			n = int32(len(tags))
			index[t], tags = n, append(tags, t)
		}
		idx[i] = n
	}
	return tags, idx
}

// wordHits lists the dictionary words of a text by where they start:
// the route choice reads them instead of walking the dictionary again
// from every rune.
type wordHits struct {
	head []int32 // head[k]: the first word starting at rune k, or -1
	hits []wordHit
}

// wordHit is one word of the text. It holds no pointer, so filing one
// costs a check no write barrier.
type wordHit struct {
	next int32 // the next word with the same start, or -1
	end  int32
	key  int32 // the segmenter's key: cost[key], posIdx[key]
}

// findWords records every word of the dictionary in rs, up to maxLen
// runes long.
func (s segmenter) findWords(rs []rune, wh *wordHits) {
	wh.head = grow(wh.head, len(rs))
	for k := range wh.head {
		wh.head[k] = -1
	}
	wh.hits = wh.hits[:0]
	a := s.words
	var cur int32
	for i, r := range rs {
		cur = a.step(cur, r)
		for n := cur; n > 0; {
			nd := &a.nodes[n]
			n = nd.dict
			if nd.nOut == 0 {
				continue
			}
			k := a.outs[nd.out]
			if int(s.keys[k].n) > s.maxLen {
				continue
			}
			start := i + 1 - int(s.keys[k].n)
			wh.hits = append(wh.hits, wordHit{next: wh.head[start], end: int32(i + 1), key: k})
			wh.head[start] = int32(len(wh.hits) - 1)
		}
	}
}

// maxSegWindow bounds the window the boundary question is asked over.
const maxSegWindow = 16

// boundaryAt reports whether a word boundary falls before rune i when
// the runes [ws, we) are segmented alone; wh holds the text's words.
func (s segmenter) boundaryAt(rs []rune, wh *wordHits, ws, we, i int) bool {
	n := we - ws
	if i <= ws || i >= we {
		return true
	}
	if n > maxSegWindow {
		return true
	}
	// No route can join what no dictionary word in the window spans (the
	// usual answer, found without the route): only a run of Latin letters
	// and digits is joined otherwise.
	if !isASCIIAlnum(rs[i-1]) || !isASCIIAlnum(rs[i]) {
		spanned := false
		for k := ws; k < i && !spanned; k++ {
			for h := wh.head[k]; h >= 0; h = wh.hits[h].next {
				if e := int(wh.hits[h].end); e > i && e <= we {
					spanned = true
					break
				}
			}
		}
		if !spanned {
			return true
		}
	}
	// best[k] is the best log-probability of segmenting the window from
	// its k-th rune, next[k] the end of the first word on that path.
	var best [maxSegWindow + 1]int64
	var next [maxSegWindow + 1]int
	for k := n - 1; k >= 0; k-- {
		best[k] = math.MinInt64
		for h := wh.head[ws+k]; h >= 0; {
			w := wh.hits[h]
			h = w.next
			e := int(w.end) - ws
			if e > n {
				continue
			}
			if sc := s.cost[w.key] + best[e]; sc > best[k] || sc == best[k] && e > next[k] {
				best[k], next[k] = sc, e
			}
		}
		if next[k] == 0 { // not a word start: the single character stands alone
			best[k], next[k] = s.charCost+best[k+1], k+1
		}
	}
	i -= ws
	window := rs[ws:we]
	for k := 0; k < n; {
		e := next[k]
		if k == i {
			return true
		}
		if k < i && i < e {
			return false
		}
		// like gse, runs of single Latin letters and digits form one word
		if e == k+1 && i == e && isASCIIAlnum(window[k]) && isASCIIAlnum(window[e]) && next[e] == e+1 {
			return false
		}
		k = e
	}
	return true
}

func isASCIIAlnum(r rune) bool {
	return r < 0x80 && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
}
