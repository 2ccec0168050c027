package lint

import (
	"math"
	"slices"
	"strings"
	"testing"
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
		cm.w = make([]int8, int(cm.dim)*len(cm.cats))
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
		// (which categories is the model's call; round 6's model also read
		// 三天就 as a promise, UNVERIF, round 7's does not)
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
