package lint

import (
	"bufio"
	"os"
	"sort"
	"strings"
	"testing"
)

type corpusLine struct {
	line   int
	labels []string
	class  string
	text   string
}

func readCorpus(t testing.TB) []corpusLine {
	t.Helper()
	return readCorpusFile(t, "testdata/corpus.tsv")
}

func readCorpusFile(t testing.TB, path string) []corpusLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusLine
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		fs := strings.Split(l, "\t")
		if len(fs) != 3 {
			t.Fatalf("%s:%d: want 3 tab-separated fields, got %d", path, n, len(fs))
		}
		c := corpusLine{line: n, class: fs[1], text: fs[2]}
		if fs[0] != "-" {
			c.labels = strings.Split(fs[0], ",")
			for _, lab := range c.labels {
				if CategoryName(lab) == "" {
					t.Fatalf("%s:%d: unknown category %q", path, n, lab)
				}
			}
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type corpusScore struct {
	violating, clean       int
	wantPairs, foundPairs  int // (line, labelled category) pairs
	falseAlarms            int // clean lines with any finding
	extraCats              int // violating lines with a category not labelled
	misses, alarms, extras []string
}

func scoreCorpus(l *Linter, corpus []corpusLine) corpusScore {
	var s corpusScore
	for _, c := range corpus {
		got := map[string]bool{}
		var desc []string
		for _, f := range l.CheckFinal(c.text) {
			got[f.Category] = true
			desc = append(desc, f.Category+":"+f.Rule+":"+f.Match)
		}
		if len(c.labels) == 0 {
			s.clean++
			if len(got) > 0 {
				s.falseAlarms++
				s.alarms = append(s.alarms, lineDesc(c, desc))
			}
			continue
		}
		s.violating++
		want := map[string]bool{}
		for _, lab := range c.labels {
			want[lab] = true
			s.wantPairs++
			if got[lab] {
				s.foundPairs++
			} else {
				s.misses = append(s.misses, lineDesc(c, desc)+" missing "+lab)
			}
		}
		for g := range got {
			if !want[g] {
				s.extraCats++
				s.extras = append(s.extras, lineDesc(c, desc)+" extra "+g)
				break
			}
		}
	}
	return s
}

func lineDesc(c corpusLine, desc []string) string {
	sort.Strings(desc)
	return "line " + itoa(c.line) + " [" + c.class + "] " + c.text + " => " + strings.Join(desc, ", ")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestCorpusAccuracy holds the linter to floors on the labelled corpus:
// recall over (utterance, category) pairs and the false-alarm rate over
// clean utterances, which are mostly tricky on purpose.
func TestCorpusAccuracy(t *testing.T) {
	const minRecall, maxFalseAlarm = 0.95, 0.05
	corpus := readCorpus(t)
	l, err := NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	s := scoreCorpus(l, corpus)
	if s.violating < 200 || s.clean < 160 {
		t.Fatalf("corpus too small: %d violating, %d clean", s.violating, s.clean)
	}
	recall := float64(s.foundPairs) / float64(s.wantPairs)
	fa := float64(s.falseAlarms) / float64(s.clean)
	t.Logf("corpus: %d utterances (%d violating, %d clean); recall %.3f (%d/%d); false-alarm rate %.3f (%d/%d); wrong extra category on %d violating lines",
		len(corpus), s.violating, s.clean, recall, s.foundPairs, s.wantPairs, fa, s.falseAlarms, s.clean, s.extraCats)
	if recall < minRecall || fa > maxFalseAlarm || testing.Verbose() {
		for _, m := range s.misses {
			t.Log("MISS  ", m)
		}
		for _, a := range s.alarms {
			t.Log("ALARM ", a)
		}
		for _, e := range s.extras {
			t.Log("EXTRA ", e)
		}
	}
	if recall < minRecall {
		t.Errorf("recall %.3f below the floor %.2f", recall, minRecall)
	}
	if fa > maxFalseAlarm {
		t.Errorf("false-alarm rate %.3f above the ceiling %.2f", fa, maxFalseAlarm)
	}
}

// TestSecondCorpusAccuracy holds the linter to the same floors on a
// second corpus, written by someone who never saw the rule pack. Measured
// before any rule was tuned on it, it scored recall 0.797 and false-alarm
// rate 0.052; its misses then showed gaps (own-range phrases in parts,
// regional superlatives, state bodies by other names) that were fixed in
// general form. testdata/final.tsv is the set that stays unseen.
func TestSecondCorpusAccuracy(t *testing.T) {
	checkCorpus(t, "testdata/heldout.tsv", 0.95, 0.05)
}

func checkCorpus(t *testing.T, path string, minRecall, maxFalseAlarm float64) {
	checkCorpusOpt(t, path, minRecall, maxFalseAlarm, true)
}

// checkCorpusQuiet never prints a line of the set, for sets nobody may
// tune on.
func checkCorpusQuiet(t *testing.T, path string, minRecall, maxFalseAlarm float64) {
	checkCorpusOpt(t, path, minRecall, maxFalseAlarm, false)
}

func checkCorpusOpt(t *testing.T, path string, minRecall, maxFalseAlarm float64, lines bool) {
	corpus := readCorpusFile(t, path)
	l, err := NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	s := scoreCorpus(l, corpus)
	recall := float64(s.foundPairs) / float64(s.wantPairs)
	fa := float64(s.falseAlarms) / float64(s.clean)
	t.Logf("%s: %d utterances (%d violating, %d clean); recall %.3f (%d/%d); false-alarm rate %.3f (%d/%d)",
		path, len(corpus), s.violating, s.clean, recall, s.foundPairs, s.wantPairs, fa, s.falseAlarms, s.clean)
	if lines && (recall < minRecall || fa > maxFalseAlarm || testing.Verbose()) {
		for _, m := range s.misses {
			t.Log("MISS  ", m)
		}
		for _, a := range s.alarms {
			t.Log("ALARM ", a)
		}
	}
	if recall < minRecall {
		t.Errorf("recall %.3f below the floor %.3f", recall, minRecall)
	}
	if fa > maxFalseAlarm {
		t.Errorf("false-alarm rate %.3f above the ceiling %.3f", fa, maxFalseAlarm)
	}
}

// TestFinalHeldoutAccuracy measures the linter on testdata/final.tsv,
// written independently of the rule pack and never used to tune it, so
// its figures estimate accuracy on speech nobody tuned for. Its floors sit
// a little below what it reaches (recall 0.969, false alarms 0.016, 3 of
// 185, after round 3's scope work on 2026-12-07, read once at its end;
// 0.965 and 0.011, 2 of 185, after the model learnt from train/; 0.960 and 0.005
// before; 0.947 and 0.000 on 2026-12-06; 0.894 and 0.011 before scope and
// paraphrase handling): a floor here only catches regressions. It prints
// aggregate figures only (TestCorpusSets reports every set).
func TestFinalHeldoutAccuracy(t *testing.T) {
	checkCorpusQuiet(t, "testdata/final.tsv", 0.96, 0.02)
}
