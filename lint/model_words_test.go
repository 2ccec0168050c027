package lint

import (
	"strings"
	"testing"
)

// TestSegmenterCut: the model's words are gse's route through the whole
// utterance, the rule pack's own words kept whole, runs of Latin letters
// and digits one word.
func TestSegmenterCut(t *testing.T) {
	l := newLinterWithoutModel(t)
	m := l.m.Load()
	cases := []struct{ text, want string }{
		{"比医院开的药管用", "比/p 医院/n 开的药/n 管用/vn"},
		{"我们家的蜂蜜最好", "我们/r 家/ 的/uj 蜂蜜/n 最好/a"},
		{"加我vx123领红包", "加我/n vx123/x 领/ 红包/n"},
		{"这个腊肉是用柴火熏的", "这个/r 腊肉/n 是/v 用/p 柴火/n 熏/v 的/uj"},
		{"", ""},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			var ws wordScratch
			var wh wordHits
			rs := []rune(c.text)
			m.seg.findWords(rs, &wh)
			m.seg.cut(rs, &wh, &ws)
			var got []string
			for i, e := range ws.ends {
				s := 0
				if i > 0 {
					s = int(ws.ends[i-1])
				}
				got = append(got, string(rs[s:e])+"/"+ws.tags[i])
			}
			if g := strings.Join(got, " "); g != c.want {
				t.Errorf("cut %q = %q, want %q", c.text, g, c.want)
			}
		})
	}
}

// FuzzSegmenterCut: any text is cut into words that tile it, and where the
// whole text fits the rules' window, the words' boundaries are the ones
// boundaryAt reports, so the model and the rules read the same words.
func FuzzSegmenterCut(f *testing.F) {
	l := newLinterWithoutModel(f)
	m := l.m.Load()
	for _, s := range []string{"比医院开的药管用", "加我vx123领红包", "全网最低价只要39.9", "ab 12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var ws wordScratch
		var wh wordHits
		rs := []rune(text)
		m.seg.findWords(rs, &wh)
		m.seg.cut(rs, &wh, &ws)
		if len(ws.ends) != len(ws.tags) {
			t.Fatalf("%d words, %d tags", len(ws.ends), len(ws.tags))
		}
		prev := int32(0)
		for _, e := range ws.ends {
			if e <= prev {
				t.Fatalf("word ends %v do not increase", ws.ends)
			}
			prev = e
		}
		if int(prev) != len(rs) {
			t.Fatalf("words end at %d of %d runes", prev, len(rs))
		}
		if len(rs) > maxSegWindow {
			return
		}
		at := map[int]bool{0: true}
		for _, e := range ws.ends {
			at[int(e)] = true
		}
		for i := 1; i < len(rs); i++ {
			if b := m.seg.boundaryAt(rs, &wh, 0, len(rs), i); b != at[i] {
				t.Fatalf("%q: boundary before rune %d: cut %v, boundaryAt %v", text, i, at[i], b)
			}
		}
	})
}
