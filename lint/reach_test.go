package lint

import (
	"flag"
	"slices"
	"strings"
	"testing"
)

var reachRule = flag.String("reach", "", "TestPatternReach: report, for each pattern line of this rule, the tune sets' lines it matches")

// patternReach holds what one pattern line finds on the sets that may be
// tuned on: lines of its rule's category per set, and clean lines flagged.
type patternReach struct {
	line   int
	text   string
	found  map[string]int
	alarms []string
}

// reachOf builds a linter holding only one pattern line of the rule at a
// time (no model; the pack's scope words kept) and runs it over every set
// that may be tuned on. Never-tune sets are not read.
func reachOf(t *testing.T, ruleID string) []patternReach {
	t.Helper()
	base, err := DefaultPack()
	if err != nil {
		t.Fatal(err)
	}
	base.Model = ""
	i := slices.IndexFunc(base.Rules, func(r Rule) bool { return r.ID == ruleID })
	if i < 0 {
		t.Fatalf("no rule %q in the built-in pack", ruleID)
	}
	rule := base.Rules[i]
	sets := modelTrainingSets(t)
	data := make([][]corpusLine, len(sets))
	for k, p := range sets {
		data[k] = readCorpusFile(t, p)
	}
	var out []patternReach
	for _, pat := range rule.Patterns {
		p := *base
		one := rule
		one.Patterns = []Phrase{pat}
		p.Rules = []Rule{one}
		l, err := New(&p)
		if err != nil {
			t.Fatal(err)
		}
		r := patternReach{line: pat.Line, text: pat.Text, found: map[string]int{}}
		for k, lines := range data {
			name := strings.TrimPrefix(sets[k], "testdata/")
			for _, c := range lines {
				if len(l.Check(c.text)) == 0 {
					continue
				}
				switch {
				case len(c.labels) == 0:
					r.alarms = append(r.alarms, name+":"+c.text)
				case slices.Contains(c.labels, rule.Category):
					r.found[name]++
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// TestShapePatternsReach holds the shape rules to leave-one-set-out: each
// pattern line, written from one set's misses, must find lines of its
// category in some other set and flag no clean line in any. A line that
// fails is dropped from the pack, not loosened here.
func TestShapePatternsReach(t *testing.T) {
	for _, c := range []struct{ rule, source string }{
		{"UNVERIF-shape", "train/paraphrase.tsv"},
	} {
		for _, r := range reachOf(t, c.rule) {
			elsewhere := 0
			for set, n := range r.found {
				if set != c.source {
					elsewhere += n
				}
			}
			t.Logf("%s line %d: %v, %d clean lines flagged", c.rule, r.line, r.found, len(r.alarms))
			if elsewhere == 0 {
				t.Errorf("%s line %d (%.30s…) finds nothing outside %s, the set it was written from", c.rule, r.line, r.text, c.source)
			}
			for _, a := range r.alarms {
				t.Errorf("%s line %d flags the clean line %s", c.rule, r.line, a)
			}
		}
	}
}

// TestPatternReach is the same check for any rule, as a report: run it
// with -reach RULE-ID while writing patterns.
func TestPatternReach(t *testing.T) {
	if *reachRule == "" {
		return
	}
	for _, r := range reachOf(t, *reachRule) {
		t.Logf("line %d %.40s…: %v", r.line, r.text, r.found)
		for _, a := range r.alarms {
			t.Logf("    ALARM %s", a)
		}
	}
}
