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
