package lint

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestModelAddsToRuleFindings: with flagAdd a category the model is sure
// of is added to a line the rules flagged for another, once, under the
// pack's first rule of that category; without it the rules' findings
// stand alone, and a category the rules found is never doubled.
func TestModelAddsToRuleFindings(t *testing.T) {
	const text = "家人们今天这个辣椒酱全网最低价只要三十九块九"
	// a model sure of HEALTH and ABS on every line, and of nothing else
	sure := func(flags byte) *catModel {
		cm := &catModel{dim: 1 << 10, maxN: 1, flags: flags, cats: Categories()}
		for _, c := range cm.cats {
			b := float32(-10)
			if c == "HEALTH" || c == "ABS" {
				b = 10
			}
			cm.bias = append(cm.bias, b)
			cm.scale = append(cm.scale, 1)
			cm.logit = append(cm.logit, 0)
			cm.veto = append(cm.veto, float32(math.Inf(-1)))
		}
		cm.setWeights(make([]int8, int(cm.dim)*len(cm.cats)))
		return cm
	}
	// the model's scores grow with the text: a file read as one line is
	// left to the rules
	long := strings.Repeat("好吃的腊肉", modelMaxRunes/5) + text
	cases := []struct {
		name  string
		flags byte
		text  string
		want  []string // rules of the findings, in order
	}{
		{"rules alone", 0, text, []string{"ABS-quanwang"}},
		{"model adds", flagAdd, text, []string{"ABS-quanwang", "model-HEALTH"}},
		{"too long to judge", flagAdd, long, []string{"ABS-quanwang"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLinterWithoutModel(t)
			m := l.m.Load()
			m.model = sure(c.flags)
			m.indexRules()
			var got []string
			for _, f := range l.Check(c.text) {
				got = append(got, f.Rule)
				if f.Law == "" || f.Explain == "" || f.Suggest == "" {
					t.Errorf("finding %+v lacks what a social worker needs", f)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("Check(%q) rules %v, want %v", c.text, got, c.want)
			}
		})
	}
}

// TestBuiltInModelJudgesFinalCaptions: a line that ends in the start of a
// rule phrase may be a partial caption, which the category model leaves to
// the rules until the phrase is whole; the same text as a final caption
// (or a written line) is whole, and the model judges it.
func TestBuiltInModelJudgesFinalCaptions(t *testing.T) {
	l := defaultLinter(t)
	m := l.m.Load()
	cases := []struct {
		text           string
		pauses         []int
		pending        bool // ends in the start of a rule phrase
		partial, final []string
	}{
		{"吃了这个酸汤 你家里的胃药就可以扔掉了", nil, true, nil, []string{"MED"}},
		{"评论区留下你的电话号码 我下播了一个一个打给你", []int{11}, true, nil, []string{"OFFPLAT"}},
		{"这一单我们是赔着钱卖的 就为了冲个人气", nil, true, nil, []string{"PRICE"}},
		// the model adds to the rules' findings only on the whole line
		{"喝了以后 晚上起夜少了 精神好了 每个人都这样", nil, true, []string{"HEALTH"}, []string{"HEALTH", "UNVERIF"}},
		// a line that ends otherwise is judged alike either way
		// (which categories is the model's call: rounds 6 and 9 read 三天就
		// as a promised result, UNVERIF, rounds 7, 8 and 10 did not)
		{"这个姜粉冲水喝 手脚冰凉的 三天就暖起来", nil, false, []string{"HEALTH"}, []string{"HEALTH"}},
		{"这个蜂蜜的味道很好 大家可以尝一尝", nil, false, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			var ns normalizeScratch
			nt := m.norm.normalize([]rune(c.text), &ns)
			if pending := m.endsPending(nt.runes); pending != c.pending {
				t.Fatalf("endsPending(%q) = %v: the case no longer tests the guard", c.text, pending)
			}
			if got := categoriesOf(l.CheckPauses(c.text, c.pauses)); !slices.Equal(got, c.partial) {
				t.Errorf("CheckPauses (partial) categories %v, want %v", got, c.partial)
			}
			if got := categoriesOf(l.CheckFinalPauses(c.text, c.pauses)); !slices.Equal(got, c.final) {
				t.Errorf("CheckFinalPauses categories %v, want %v", got, c.final)
			}
			if c.pauses == nil {
				if got := categoriesOf(l.CheckFinal(c.text)); !slices.Equal(got, c.final) {
					t.Errorf("CheckFinal categories %v, want %v", got, c.final)
				}
				if got := categoriesOf(l.Check(c.text)); !slices.Equal(got, c.partial) {
					t.Errorf("Check categories %v, want %v", got, c.partial)
				}
			}
		})
	}
}

// TestModelFindingsTellTheCategory: a finding the model makes is told with
// its category's own words, never a rule's, whose explanation quotes words
// she may not have said; a pack without [category] sections still
// explains it with the category's first rule.
func TestModelFindingsTellTheCategory(t *testing.T) {
	p, err := DefaultPack()
	if err != nil {
		t.Fatal(err)
	}
	explained := map[string]CategoryText{}
	for _, c := range p.Explained {
		explained[c.Category] = c
	}
	for _, cat := range Categories() {
		c, ok := explained[cat]
		if !ok {
			t.Errorf("the default pack does not explain category %s", cat)
			continue
		}
		for _, r := range p.Rules {
			if r.Category == cat && r.Explain == c.Explain {
				t.Errorf("category %s is explained with rule %s's words %q", cat, r.ID, r.Explain)
			}
		}
	}
	// 百分之百 in UNVERIF's first rule is exactly what a paraphrase lacks;
	// any one of these lines told by the model will do, so retraining it
	// does not break the test unless it hears none of them
	lines := []string{"你买回去吃不好 我倒贴你钱", "这个腊肉放多久都不得坏 你们放心", "我们这个茶 喝了好多年的人都晓得 从来没有人喝出毛病"}
	l := defaultLinter(t)
	var mf *Finding
	var line string
	for _, line = range lines {
		fs := l.CheckFinal(line)
		if i := slices.IndexFunc(fs, func(f Finding) bool { return f.Rule == "model-UNVERIF" }); i >= 0 {
			mf = &fs[i]
			break
		}
	}
	if mf == nil {
		t.Fatalf("the model reports UNVERIF on none of %q; the test needs a line it does", lines)
	}
	want := explained["UNVERIF"]
	if mf.Explain != want.Explain || mf.Suggest != want.Suggest || mf.Law != want.Law {
		t.Errorf("model finding told %q / %q / %q, want the category's %q / %q / %q", mf.Explain, mf.Suggest, mf.Law, want.Explain, want.Suggest, want.Law)
	}

	p.Explained = nil
	old, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	var first *Rule
	for i := range p.Rules {
		if p.Rules[i].Category == "UNVERIF" {
			first = &p.Rules[i]
			break
		}
	}
	fs := old.CheckFinal(line)
	i := slices.IndexFunc(fs, func(f Finding) bool { return f.Rule == "model-UNVERIF" })
	if i < 0 {
		t.Fatalf("without [category] sections CheckFinal(%q) = %+v, want the model's UNVERIF finding still", line, fs)
	}
	if fs[i].Explain != first.Explain || fs[i].Suggest != first.Suggest {
		t.Errorf("without [category] sections the finding says %q / %q, want rule %s's", fs[i].Explain, fs[i].Suggest, first.ID)
	}
}

// TestUTF8PackedIsEncodeRune: the model's packed runes are exactly the
// bytes utf8.EncodeRune writes, invalid runes included, so its hashes are
// those it was trained with.
func TestUTF8PackedIsEncodeRune(t *testing.T) {
	runes := []rune{0, 'a', 0x7F, 0x80, 0x7FF, 0x800, '最', 0xD7FF, 0xD800, 0xDFFF, 0xE000, maskRune, 0xFFFD, 0xFFFF, 0x10000, '😀', utf8.MaxRune, utf8.MaxRune + 1, -1}
	for r := rune(0); r < 0x11000; r += 97 {
		runes = append(runes, r)
	}
	// pack encodes three-byte runes itself and calls utf8Packed for the rest
	var p packedText
	p.pack(runes)
	for i, r := range runes {
		var buf [utf8.UTFMax]byte
		n := utf8.EncodeRune(buf[:], r)
		b, got := utf8Packed(r)
		if r == maskRune {
			if p.n[i+1] != 0 || !p.masked {
				t.Fatalf("%U: not masked", r)
			}
		} else if b != p.bytes[i+1] || got != int(p.n[i+1]) {
			t.Fatalf("%U: packed %#x (%d bytes), utf8Packed gives %#x (%d)", r, p.bytes[i+1], p.n[i+1], b, got)
		}
		if got != n {
			t.Fatalf("%U: %d bytes, EncodeRune wrote %d", r, got, n)
		}
		for i := range n {
			if byte(b>>(8*i)) != buf[i] {
				t.Fatalf("%U: byte %d is %#x, EncodeRune wrote %#x", r, i, byte(b>>(8*i)), buf[i])
			}
		}
	}
}

// TestIsCNNumeralIsDigitOrUnit: isCNNumeral's own list of runes is the
// union of cnDigit's and cnUnit's, over every rune.
func TestIsCNNumeralIsDigitOrUnit(t *testing.T) {
	for r := rune(0); r <= utf8.MaxRune; r++ {
		_, digit := cnDigit(r)
		_, unit := cnUnit(r)
		if isCNNumeral(r) != (digit || unit) {
			t.Fatalf("%q: isCNNumeral %v, digit %v, unit %v", r, isCNNumeral(r), digit, unit)
		}
	}
}

// TestEndsPendingIsThePrefixSet: the automaton walk answers exactly what
// a set of every pattern's proper prefixes (two to pendingMaxRunes runes)
// would, for every such prefix behind other speech and for every tail of
// the corpus lines. The patterns are read back out of the automaton.
func TestEndsPendingIsThePrefixSet(t *testing.T) {
	p, err := DefaultPack()
	if err != nil {
		t.Fatal(err)
	}
	m, err := compile(p) // not the snapshot: this checks what compile marks
	if err != nil {
		t.Fatal(err)
	}
	prefixes := map[string]bool{}
	var walk func(n int32, spelt []rune)
	walk = func(n int32, spelt []rune) {
		for _, k := range m.ac.keysAt(n) {
			if m.keys[k].tag>>kindShift == kindPattern {
				for l := 2; l < len(spelt) && l <= pendingMaxRunes; l++ {
					prefixes[string(spelt[:l])] = true
				}
			}
		}
		for _, e := range m.ac.edgesOf(n) {
			walk(e.next, append(spelt, e.r))
		}
	}
	walk(0, nil)
	if len(prefixes) < 1000 {
		t.Fatalf("only %d pattern prefixes read back", len(prefixes))
	}
	oracle := func(rs []rune) bool {
		for l := 2; l <= pendingMaxRunes && l <= len(rs); l++ {
			if prefixes[string(rs[len(rs)-l:])] {
				return true
			}
		}
		return false
	}
	texts := []string{}
	for p := range prefixes {
		texts = append(texts, "家人们看一下"+p)
	}
	for _, c := range readCorpus(t) {
		rs := []rune(c.text)
		for cut := range min(len(rs), 12) {
			texts = append(texts, string(rs[:len(rs)-cut]))
		}
	}
	pending := 0
	for _, text := range texts {
		rs := []rune(text)
		got := m.endsPending(rs)
		if got != oracle(rs) {
			t.Fatalf("endsPending(%q) = %v, the prefix set says %v", text, got, !got)
		}
		if got {
			pending++
		}
	}
	t.Logf("%d texts, %d pending", len(texts), pending)
}

// TestHashGrams3IsHashGramsBySize: the one-pass hashing gives the same
// buckets in the same order (the model was trained on that order) for
// every corpus line, whole and by clause, with runes masked or not.
func TestHashGrams3IsHashGramsBySize(t *testing.T) {
	var p packedText
	lines := readCorpus(t)
	if len(lines) < 500 {
		t.Fatalf("only %d corpus lines", len(lines))
	}
	rng := rand.New(rand.NewPCG(3, 3))
	compared := 0
	for _, c := range lines {
		rs := []rune(c.text)
		for _, masked := range []bool{false, true} {
			if masked {
				for range 1 + rng.IntN(3) {
					if len(rs) > 0 {
						rs[rng.IntN(len(rs))] = maskRune
					}
				}
			}
			p.pack(rs)
			for _, r := range [][2]int{{0, len(rs)}, {0, len(rs) / 2}, {len(rs) / 3, len(rs)}, {len(rs) / 4, len(rs) / 2}} {
				from, to := r[0], r[1]
				for _, salt := range []uint32{0, 'N'} {
					lo, hi := from+1, to+1
					if from == 0 {
						lo = 0
					}
					if to == len(p.bytes)-2 {
						hi = to + 2
					}
					want := hashGramsBySize(&p, lo, hi, 3, salt, 1<<15, []uint32{7})
					got := hashGrams(&p, from, to, 3, salt, 1<<15, []uint32{7})
					if !slices.Equal(got, want) {
						t.Fatalf("%q [%d,%d) masked %v: %v, want %v", c.text, from, to, masked, got, want)
					}
					compared++
				}
			}
		}
	}
	t.Logf("%d ranges compared", compared)
}

// TestScoreGatesAreTheFloatDecisions: for the shipped model, each gate
// decides as the float comparison it stands for, for every sum near the
// gates and over the whole range; a model whose scores may not grow with
// the sum has no gates.
func TestScoreGatesAreTheFloatDecisions(t *testing.T) {
	l, err := NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	cm := l.m.Load().model
	g := cm.gates()
	if g == nil {
		t.Fatal("the shipped model has no gates")
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for k := range cm.cats {
		sums := []int32{math.MinInt32, math.MaxInt32, 0}
		for s := int32(-3000); s <= 3000; s++ {
			sums = append(sums, s)
		}
		for _, gate := range []int64{g.speak[k], g.speakDoubtful[k], g.keep[k], g.keepHedged[k]} {
			if gate > math.MinInt32 && gate < math.MaxInt32 {
				sums = append(sums, int32(gate-1), int32(gate), int32(gate+1))
			}
		}
		for range 10000 {
			sums = append(sums, int32(rng.Uint32()))
		}
		for _, s := range sums {
			score := cm.scoreAt(k, s)
			checks := []struct {
				name      string
				gate      int64
				floatSays bool
			}{
				{"speak", g.speak[k], !(score <= cm.logit[k])},
				{"speak doubtful", g.speakDoubtful[k], !(score <= max(cm.logit[k], cm.hedgedLogit))},
				{"keep", g.keep[k], score >= cm.veto[k]},
				{"keep hedged", g.keepHedged[k], score >= min(cm.veto[k], cm.hedgedVeto[k])},
			}
			for _, c := range checks {
				if (int64(s) >= c.gate) != c.floatSays {
					t.Fatalf("%s %s, sum %d (score %v): gate %d says %v, the float %v", cm.cats[k], c.name, s, score, c.gate, int64(s) >= c.gate, c.floatSays)
				}
			}
		}
	}
	odd := &catModel{cats: []string{"ABS"}, bias: []float32{0}, scale: []float32{0}, logit: []float32{0}, veto: []float32{0}, hedgedVeto: []float32{0}}
	if odd.gates() != nil {
		t.Fatal("a zero scale has gates")
	}
}
