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
// trimmed dictionary, computed with fixed-size buffers because gse's Cut
// allocates a map per call and the linter has a 20 µs budget per
// utterance. The words live in the project's own trie rather than gse's
// cedar trie: loading 30 000 words into cedar cost a cold start 60 ms and
// 20 MB, and stepping a trie by rune spares re-encoding UTF-8 at every
// step.
type segmenter struct {
	base  *wordDict // the trimmed dictionary, shared and read-only
	extra *wordDict // the rule pack's words
	logT  float64
	// maxLen is the longest word in runes
	maxLen int
}

// wordDict is a dictionary as a trie: the first entry of a word wins, as
// in gse.
type wordDict struct {
	trie *automaton
	// logFreq and pos are per key; a later duplicate is never read.
	logFreq []float64
	pos     []string
	total   float64
}

// newWordDict lays out words; freqs and pos are per word.
func newWordDict(words [][]rune, freqs []float64, pos []string) *wordDict {
	b := newACBuilder()
	for _, w := range words {
		b.add(w, 0)
	}
	trie, _ := b.buildTrie()
	d := &wordDict{trie: trie, logFreq: make([]float64, len(words)), pos: pos}
	for k, f := range freqs {
		d.logFreq[k] = math.Log(f)
	}
	for n := range int32(len(trie.outOff) - 1) {
		if ks := trie.keysAt(n); len(ks) > 0 {
			d.total += freqs[ks[0]]
		}
	}
	return d
}

// word returns the log frequency and part of speech of the word ending at
// node n, if one does.
func (d *wordDict) word(n int32) (float64, string, bool) {
	if n < 0 {
		return 0, "", false
	}
	ks := d.trie.keysAt(n)
	if len(ks) == 0 {
		return 0, "", false
	}
	return d.logFreq[ks[0]], d.pos[ks[0]], true
}

// baseDictionary parses the embedded dictionary once per process; it is
// never written afterwards, so every linter and every reload shares it and
// a trainer's reload costs only the pack's own words.
var baseDictionary = sync.OnceValues(func() (*wordDict, error) {
	var (
		words [][]rune
		freqs []float64
		pos   []string
	)
	// every word's runes in one array, sized so it never moves
	all := make([]rune, 0, len(trimmedDict))
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
		words = append(words, all[from:len(all):len(all)])
		freqs = append(freqs, freq)
		pos = append(pos, strings.TrimSpace(p))
	}
	return newWordDict(words, freqs, pos), nil
})

// baseMaxLen is the longest word of the trimmed dictionary (four runes).
const baseMaxLen = 4

func newSegmenter(extra []string) (segmenter, error) {
	base, err := baseDictionary()
	if err != nil {
		return segmenter{}, err
	}
	var (
		words [][]rune
		freqs []float64
		pos   []string
	)
	maxLen := baseMaxLen
	for _, w := range extra {
		if w == "" {
			continue
		}
		words = append(words, []rune(w))
		freqs = append(freqs, tradeWordFreq)
		pos = append(pos, "n")
		maxLen = max(maxLen, utf8.RuneCountInString(w))
	}
	ex := newWordDict(words, freqs, pos)
	return segmenter{base: base, extra: ex, logT: math.Log(base.total + ex.total), maxLen: min(maxLen, maxSegWindow)}, nil
}

// segStep advances a lookup in both dictionaries by one rune; -1 is a dead
// end. It reports whether either is still alive (the runes so far are a
// prefix of some word) and the word ending here, if any: the more frequent
// of the two, its part of speech from the dictionary it came from.
func (s segmenter) segStep(n1, n2 *int32, r rune) (logFreq float64, pos string, word, alive bool) {
	if *n1 >= 0 {
		*n1 = s.base.trie.child(*n1, r)
	}
	if *n2 >= 0 {
		*n2 = s.extra.trie.child(*n2, r)
	}
	if *n1 < 0 && *n2 < 0 {
		return 0, "", false, false
	}
	l1, p1, ok1 := s.base.word(*n1)
	l2, p2, ok2 := s.extra.word(*n2)
	switch {
	case ok2 && (!ok1 || l2 > l1):
		return l2, p2, true, true
	case ok1:
		return l1, p1, true, true
	}
	return 0, "", false, true
}

// maxSegWindow bounds the window the boundary question is asked over.
const maxSegWindow = 16

// boundaryAt reports whether a word boundary falls before window[i].
func (s segmenter) boundaryAt(window []rune, i int, _ *[]rune) bool {
	n := len(window)
	if i <= 0 || i >= n {
		return true
	}
	if n > maxSegWindow {
		return true
	}
	// best[k] is the best log-probability of segmenting window[k:],
	// next[k] the end of the first word on that path.
	var best [maxSegWindow + 1]float64
	var next [maxSegWindow + 1]int
	for k := n - 1; k >= 0; k-- {
		best[k] = math.Inf(-1)
		n1, n2 := int32(0), int32(0)
		for j := k; j < n && j-k < s.maxLen; j++ {
			lf, _, word, alive := s.segStep(&n1, &n2, window[j])
			if !alive {
				break
			}
			if word {
				if sc := lf - s.logT + best[j+1]; sc > best[k] || sc == best[k] && j+1 > next[k] {
					best[k], next[k] = sc, j+1
				}
			}
		}
		if next[k] == 0 { // not a word start: the single character stands alone
			best[k], next[k] = -s.logT+best[k+1], k+1
		}
	}
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
