package lint

import (
	_ "embed"
	"fmt"
	"strings"
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

type segmenter struct {
	seg *gse.Segmenter
}

func newSegmenter(extra []string) (segmenter, error) {
	s := &gse.Segmenter{NotLoadHMM: true, SkipLog: true}
	var b strings.Builder
	b.Grow(len(trimmedDict) + 32*len(extra))
	b.WriteString(trimmedDict)
	for _, w := range extra {
		fmt.Fprintf(&b, "\n%s %d n", w, tradeWordFreq)
	}
	if err := s.LoadDictStr(b.String()); err != nil {
		return segmenter{}, fmt.Errorf("load segmentation dictionary: %w", err)
	}
	return segmenter{seg: s}, nil
}

// boundaryAt reports whether a word boundary falls before window[i].
func (s segmenter) boundaryAt(window []rune, i int, _ *[]rune) bool {
	if i <= 0 || i >= len(window) {
		return true
	}
	pos := 0
	for _, tok := range s.seg.CutDAGNoHMM(string(window)) {
		if pos == i {
			return true
		}
		pos += utf8.RuneCountInString(tok)
		if pos > i {
			return false
		}
	}
	return pos == i
}
