package lint

import (
	"bufio"
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-ego/gse"
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

// segmenter answers one question: does a word boundary fall here? It uses
// gse's dictionary (a cedar double-array trie with word frequencies) and
// gse's route choice — the most probable path through the word DAG, no
// HMM — but computes it over a few characters around the candidate with
// fixed-size buffers, because gse's Cut allocates a map per call and the
// linter has a 20 µs budget per utterance.
type segmenter struct {
	base   *gse.Dictionary // the trimmed dictionary, shared and read-only
	extra  *gse.Dictionary // the rule pack's words
	logT   float64
	maxLen int // longest word in runes
}

// baseDictionary parses the embedded dictionary once per process; it is
// never written afterwards, so every linter and every reload shares it and
// a trainer's reload costs only the pack's own words.
var baseDictionary = sync.OnceValues(func() (*gse.Dictionary, error) {
	seg := &gse.Segmenter{Dict: gse.NewDict(), SkipLog: true}
	sc := bufio.NewScanner(strings.NewReader(trimmedDict))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		freq, err := strconv.ParseFloat(f[1], 64)
		if err != nil || freq <= 0 {
			return nil, fmt.Errorf("segmentation dictionary line %d: bad frequency %q", n, f[1])
		}
		pos := ""
		if len(f) > 2 {
			pos = f[2]
		}
		if err := seg.AddToken(f[0], freq, pos); err != nil {
			return nil, fmt.Errorf("segmentation dictionary line %d: %w", n, err)
		}
	}
	return seg.Dict, nil
})

// baseMaxLen is the longest word of the trimmed dictionary (four runes).
const baseMaxLen = 4

func newSegmenter(extra []string) (segmenter, error) {
	base, err := baseDictionary()
	if err != nil {
		return segmenter{}, err
	}
	seg := &gse.Segmenter{Dict: gse.NewDict(), SkipLog: true}
	maxLen := baseMaxLen
	for _, w := range extra {
		if w == "" {
			continue
		}
		if err := seg.AddToken(w, tradeWordFreq, "n"); err != nil {
			return segmenter{}, fmt.Errorf("add %q to the segmentation dictionary: %w", w, err)
		}
		maxLen = max(maxLen, utf8.RuneCountInString(w))
	}
	total := base.TotalFreq() + seg.Dict.TotalFreq()
	return segmenter{base: base, extra: seg.Dict, logT: math.Log(total), maxLen: min(maxLen, maxSegWindow)}, nil
}

// find looks a word up in both dictionaries: ok means the bytes are at
// least a prefix of some word, freq > 0 that they are a word.
func (s segmenter) find(b []byte) (float64, bool) {
	f1, _, ok1 := s.base.Find(b)
	f2, _, ok2 := s.extra.Find(b)
	return max(f1, f2), ok1 || ok2
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
	var buf [maxSegWindow * utf8.UTFMax]byte
	for k := n - 1; k >= 0; k-- {
		best[k] = math.Inf(-1)
		b := buf[:0]
		for j := k; j < n && j-k < s.maxLen; j++ {
			b = utf8.AppendRune(b, window[j])
			freq, ok := s.find(b)
			if !ok {
				break
			}
			if freq > 0 {
				if sc := math.Log(freq) - s.logT + best[j+1]; sc > best[k] || sc == best[k] && j+1 > next[k] {
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
