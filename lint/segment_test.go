package lint

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ego/gse"
)

// gseTrimmed loads the trimmed dictionary into gse itself, as the linter
// once did, to serve as the oracle for the linter's own segmenter.
func gseTrimmed(t *testing.T) *gse.Segmenter {
	t.Helper()
	seg := &gse.Segmenter{Dict: gse.NewDict(), SkipLog: true}
	sc := bufio.NewScanner(strings.NewReader(trimmedDict))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		freq, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		pos := ""
		if len(f) > 2 {
			pos = f[2]
		}
		if err := seg.AddToken(f[0], freq, pos); err != nil {
			t.Fatal(err)
		}
	}
	return seg
}

// TestSegmenterAgreesWithGse: over every normalised line of the corpora,
// the linter's segmenter (its own automaton over gse's trimmed
// dictionary, no pack words) cuts exactly where gse's own Cut without HMM
// does, and its boundary check agrees with that cut.
func TestSegmenterAgreesWithGse(t *testing.T) {
	oracle := gseTrimmed(t)
	l := newLinterWithoutModel(t)
	m := l.m.Load()
	seg, err := newSegmenter(nil)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"testdata/corpus.tsv", "testdata/final.tsv", "testdata/written.tsv", "testdata/heldout.tsv"}
	sc := m.pool.Get().(*scratch)
	defer m.pool.Put(sc)
	var ws wordScratch
	var wh wordHits
	n, quirks := 0, 0
	for _, file := range files {
		for _, c := range readCorpusFile(t, file) {
			rs := m.scan(c.text, sc).runes
			seg.findWords(rs, &wh)
			seg.cut(rs, &wh, &ws)
			var ours []string
			for i, e := range ws.ends {
				s := 0
				if i > 0 {
					s = int(ws.ends[i-1])
				}
				ours = append(ours, string(rs[s:e]))
			}
			if lonePrefix(seg, rs, &wh) {
				// gse scores a character that starts no word but is a
				// word's first character log(0), and every route before
				// it ties at -Inf (打出/来 for 打/出来); the linter gives
				// it log(1), as for any other character standing alone
				quirks++
				continue
			}
			theirs := oracle.Cut(string(rs), false)
			if strings.Join(ours, "/") != strings.Join(theirs, "/") {
				t.Fatalf("%s:%d %q: ours %v, gse %v", file, c.line, string(rs), ours, theirs)
			}
			at := map[int]bool{}
			for _, e := range ws.ends {
				at[int(e)] = true
			}
			for i := 1; i < len(rs) && len(rs) <= maxSegWindow; i++ {
				if b := seg.boundaryAt(rs, &wh, 0, len(rs), i); b != at[i] {
					t.Fatalf("%q: boundary before rune %d: cut %v, boundaryAt %v", string(rs), i, at[i], b)
				}
			}
			n++
		}
	}
	if n < 500 {
		t.Fatalf("only %d lines compared (%d left out)", n, quirks)
	}
	t.Logf("%d lines cut as gse cuts them; %d left out where gse scores a lone character log(0)", n, quirks)
}

// lonePrefix reports whether some character of rs starts no dictionary
// word yet is the first character of one.
func lonePrefix(seg segmenter, rs []rune, wh *wordHits) bool {
	for k, r := range rs {
		if wh.head[k] < 0 && seg.words.child(0, r) >= 0 {
			return true
		}
	}
	return false
}
