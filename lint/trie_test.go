package lint

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// naiveMatches lists every (key, end) of keys in text by brute force, in
// the order the automaton reports them: by end, then longest key first,
// keys of one length in the order added.
func naiveMatches(keys [][]rune, text []rune) []string {
	var out []string
	for end := 1; end <= len(text); end++ {
		for n := end; n >= 1; n-- {
			for k, w := range keys {
				if len(w) == n && slices.Equal(text[end-n:end], w) {
					out = append(out, fmt.Sprintf("%d@%d", k, end))
				}
			}
		}
	}
	return out
}

// FuzzAutomaton: the flat automaton finds exactly the keywords a brute
// force finds, and longestAt agrees with it at every position.
func FuzzAutomaton(f *testing.F) {
	f.Add("全网最低|最低价|最低|低价", "今天全网最低价只要九块九")
	f.Add("a|ab|abc|b|bc|c", "abcabcab")
	f.Add("他|他们|们|我们|我", "我们他们我他")
	f.Add("治|能治|治好|胃病", "喝了能治好胃病")
	// a node wide enough for the hash table, root edges past the dense table
	f.Add("最低|最好|最大|最强|最佳|最优|好|😀顶|😀", "最优最佳😀顶最好吗最")
	f.Fuzz(func(t *testing.T, keyText, text string) {
		var keys [][]rune
		b := newACBuilder()
		for _, k := range strings.Split(keyText, "|") {
			if k == "" || len(keys) >= 64 {
				continue
			}
			keys = append(keys, []rune(k))
			b.add([]rune(k), int32(len(keys)-1))
		}
		a, acKeys := b.build()
		rs := []rune(text)
		var got []string
		for k, end := range a.matches(rs) {
			got = append(got, fmt.Sprintf("%d@%d", k, end))
		}
		want := naiveMatches(keys, rs)
		// keys of equal length ending together come out in the order added
		if !slices.Equal(got, want) {
			t.Fatalf("keys %q in %q: automaton %v, brute force %v", keyText, text, got, want)
		}
		for i := range rs {
			k, n := a.longestAt(rs, i, acKeys)
			wantK, wantN := int32(-1), 0
			for j, w := range keys {
				if len(w) > wantN && i+len(w) <= len(rs) && slices.Equal(rs[i:i+len(w)], w) {
					wantK, wantN = int32(j), len(w)
				}
			}
			if k != wantK || n != wantN {
				t.Fatalf("keys %q in %q at %d: longestAt %d/%d, brute force %d/%d", keyText, text, i, k, n, wantK, wantN)
			}
		}
	})
}

// TestSegmenterKeepsTwoDictionaries: the base dictionary and the pack's
// words share one automaton but keep gse's semantics of two dictionaries.
func TestSegmenterKeepsTwoDictionaries(t *testing.T) {
	base, err := baseDictionary()
	if err != nil {
		t.Fatal(err)
	}
	freqOf := func(w string) (float64, string) {
		for i, bw := range base.words {
			if string(bw) == w {
				return base.freqs[i], base.pos[i]
			}
		}
		t.Fatalf("%q is not in the base dictionary", w)
		return 0, ""
	}
	rare, rarePos := freqOf("柴火") // below tradeWordFreq
	common, commonPos := freqOf("我们")
	if rare >= tradeWordFreq || common <= tradeWordFreq {
		t.Fatalf("the test needs 柴火 (%v) below and 我们 (%v) above %d", rare, common, tradeWordFreq)
	}
	plain, err := newSegmenter(nil)
	if err != nil {
		t.Fatal(err)
	}
	seg, err := newSegmenter([]string{"柴火", "我们", "榕江腊肉", "榕江腊肉"})
	if err != nil {
		t.Fatal(err)
	}
	var baseTotal float64
	for _, f := range base.freqs {
		baseTotal += f
	}
	// each dictionary counts its own words once, duplicates not again
	if got, want := seg.charCost, plain.charCost; got >= want {
		t.Fatalf("a lone character costs %v with pack words, %v without", got, want)
	}
	wantTotal := baseTotal + 3*tradeWordFreq
	logT := math.Log(wantTotal)
	if d := seg.charCost - toCost(-logT); d > 1 || d < -1 {
		t.Fatalf("a lone character costs %v, want -log(%v) = %v", seg.charCost, wantTotal, toCost(-logT))
	}
	var wh wordHits
	rs := []rune("我们柴火榕江腊肉")
	seg.findWords(rs, &wh)
	find := func(start, end int) (int64, string) {
		for h := wh.head[start]; h >= 0; h = wh.hits[h].next {
			if w := wh.hits[h]; int(w.end) == end {
				return seg.cost[w.key], seg.tags[seg.posIdx[w.key]]
			}
		}
		t.Fatalf("no word [%d,%d) of %q", start, end, string(rs))
		return 0, ""
	}
	cases := []struct {
		start, end int
		freq       float64
		pos        string
	}{
		{0, 2, common, commonPos},  // the base's frequency is higher: the base's word
		{2, 4, tradeWordFreq, "n"}, // the pack's is higher: the pack's word
		{4, 8, tradeWordFreq, "n"}, // the pack's alone
	}
	for _, c := range cases {
		cost, pos := find(c.start, c.end)
		// the totals are summed in different orders: a cost may be one off
		if want := toCost(math.Log(c.freq) - logT); cost-want > 1 || want-cost > 1 || pos != c.pos {
			t.Errorf("%q: cost %v and %q, want %v (frequency %v) and %q", string(rs[c.start:c.end]), cost, pos, want, c.freq, c.pos)
		}
	}
	if _, p := freqOf("柴火"); p != rarePos {
		t.Fatal("the shared base dictionary was changed")
	}
}
