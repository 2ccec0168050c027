package lint

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tuneOnly keeps a tuning loop away from the never-tune sets: with it,
// TestCorpusSets scores only the sets rules may be written from, and the
// ASR test scores them instead of the never-tune sets.
var tuneOnly = flag.Bool("tune-only", false, "score only the sets that may be tuned on (never final.tsv or a frozen half)")

// measuredSet is one labelled file the accuracy report covers. Frozen
// sets were written by people who never saw the rule pack and are never
// used to tune it: for them the test prints aggregate figures only, never
// a line, so nobody tunes to them by reading the test's output.
type measuredSet struct {
	path   string
	frozen bool
}

// categoryScore counts (line, category) pairs for one category.
type categoryScore struct{ want, found int }

type setScore struct {
	corpusScore
	cats map[string]*categoryScore
	// faCats counts clean lines flagged, by the category flagged.
	faCats map[string]int
}

func (s setScore) recall() float64 { return ratio(s.foundPairs, s.wantPairs) }
func (s setScore) fa() float64     { return ratio(s.falseAlarms, s.clean) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func scoreSet(l *Linter, lines []corpusLine) setScore {
	s := setScore{corpusScore: scoreCorpus(l, lines), cats: map[string]*categoryScore{}, faCats: map[string]int{}}
	for _, c := range lines {
		got := map[string]bool{}
		for _, f := range l.CheckFinal(c.text) {
			got[f.Category] = true
		}
		if len(c.labels) == 0 {
			for g := range got {
				s.faCats[g]++
			}
			continue
		}
		for _, lab := range c.labels {
			cs := s.cats[lab]
			if cs == nil {
				cs = &categoryScore{}
				s.cats[lab] = cs
			}
			cs.want++
			if got[lab] {
				cs.found++
			}
		}
	}
	return s
}

func (s *setScore) add(o setScore) {
	s.violating += o.violating
	s.clean += o.clean
	s.wantPairs += o.wantPairs
	s.foundPairs += o.foundPairs
	s.falseAlarms += o.falseAlarms
	if s.cats == nil {
		s.cats = map[string]*categoryScore{}
		s.faCats = map[string]int{}
	}
	for k, v := range o.faCats {
		s.faCats[k] += v
	}
	for k, v := range o.cats {
		cs := s.cats[k]
		if cs == nil {
			cs = &categoryScore{}
			s.cats[k] = cs
		}
		cs.want += v.want
		cs.found += v.found
	}
}

func (s setScore) summary(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-28s recall %.3f (%d/%d)  false alarms %.3f (%d/%d)  per category:",
		name, s.recall(), s.foundPairs, s.wantPairs, s.fa(), s.falseAlarms, s.clean)
	for _, c := range Categories() {
		if cs := s.cats[c]; cs != nil {
			fmt.Fprintf(&b, " %s %.2f(%d)", c, ratio(cs.found, cs.want), cs.want)
		}
	}
	if len(s.faCats) > 0 {
		b.WriteString("  false alarms by category:")
		for _, c := range Categories() {
			if n := s.faCats[c]; n > 0 {
				fmt.Fprintf(&b, " %s %d", c, n)
			}
		}
	}
	return b.String()
}

// minCategory is the lowest per-category recall among categories with at
// least minCount labelled lines (smaller ones say little on their own).
func (s setScore) minCategory(minCount int) (string, float64) {
	name, low := "", 1.0
	for c, cs := range s.cats {
		if cs.want >= minCount && ratio(cs.found, cs.want) < low {
			name, low = c, ratio(cs.found, cs.want)
		}
	}
	return name, low
}

// neverTuneSets are final.tsv and the frozen halves of the unseen sets.
func neverTuneSets(t *testing.T) []string {
	t.Helper()
	frozen, err := filepath.Glob("testdata/unseen/*_frozen.tsv")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(frozen)
	return append([]string{"testdata/final.tsv"}, frozen...)
}

// TestCorpusSets reports recall, false-alarm rate and per-category recall
// on every labelled set, and holds the never-tune sets together to floors
// a little below what the linter reaches, so a regression fails.
func TestCorpusSets(t *testing.T) {
	const (
		// a little below what the linter reaches (round 10: 0.974,
		// 0.025, SUPERST 0.95; round 9: 0.976, 0.040, SUPERST 0.95;
		// round 8: 0.960, 0.027, UNVERIF 0.91; round 7: 0.954, 0.029,
		// MED 0.91; round 6: 0.940, 0.025, DATA 0.89; round 5: 0.898,
		// 0.048, 0.76; 0.729, 0.062 and 0.63 before any of this work).
		// Round 9 let the false alarms rise to 19 of 480 and the
		// ceiling went to 0.045; round 10's scope work brought them to
		// 12 and the ceiling back to 0.035.
		minRecall      = 0.965
		maxFalseAlarm  = 0.035
		minCatRecall   = 0.93
		minCatExamples = 10
	)
	l, err := NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	var sets []measuredSet
	for _, p := range modelTrainingSets(t) {
		sets = append(sets, measuredSet{path: p})
	}
	var never []string
	if !*tuneOnly {
		never = neverTuneSets(t)
	}
	for _, p := range never {
		sets = append(sets, measuredSet{path: p, frozen: true})
	}
	var all setScore
	for _, set := range sets {
		s := scoreSet(l, readCorpusFile(t, set.path))
		t.Log(s.summary(strings.TrimPrefix(set.path, "testdata/")))
		if set.frozen {
			all.add(s)
			continue
		}
		if testing.Verbose() {
			for _, m := range s.misses {
				t.Log("  MISS  ", m)
			}
			for _, a := range s.alarms {
				t.Log("  ALARM ", a)
			}
		}
	}
	if *tuneOnly {
		return
	}
	t.Log(all.summary("ALL NEVER-TUNE SETS"))
	if all.recall() < minRecall {
		t.Errorf("never-tune recall %.3f below the floor %.3f", all.recall(), minRecall)
	}
	if all.fa() > maxFalseAlarm {
		t.Errorf("never-tune false-alarm rate %.3f above the ceiling %.3f", all.fa(), maxFalseAlarm)
	}
	if c, r := all.minCategory(minCatExamples); r < minCatRecall {
		t.Errorf("never-tune recall of category %s is %.3f, below the floor %.3f", c, r, minCatRecall)
	}
}

// asrHomophones are confusions a Mandarin recogniser commonly makes,
// written from general knowledge of Mandarin ASR (function words with one
// reading, southwestern flat/retroflex and n/l mergers, near-homophones of
// trade words), not from any labelled line.
var asrHomophones = map[string][]string{
	"的": {"得", "地"}, "得": {"的"}, "地": {"的"}, "在": {"再"}, "再": {"在"},
	"做": {"作"}, "那": {"哪"}, "哪": {"那"}, "吗": {"嘛"}, "嘛": {"吗"},
	"他": {"她", "它"}, "她": {"他"}, "了": {"啦"}, "啦": {"了"}, "呢": {"哪"},
	"已": {"以"}, "像": {"象"}, "到": {"倒"}, "和": {"合"}, "吧": {"把"},
	"是": {"事", "四"}, "十": {"是"}, "四": {"是"}, "吃": {"痴"}, "次": {"刺"},
	"山": {"三"}, "找": {"早"}, "知": {"之"}, "这": {"者"}, "资": {"知"},
	"南": {"蓝"}, "牛": {"刘"}, "奶": {"来"}, "脑": {"老"}, "女": {"旅"},
	"心": {"新"}, "信": {"性"}, "今": {"金"}, "天": {"添"}, "价": {"架"},
	"格": {"个"}, "保": {"宝"}, "证": {"正"}, "效": {"笑"}, "果": {"过"},
	"国": {"过"}, "推": {"腿"}, "荐": {"见"}, "绝": {"决"}, "疗": {"聊"},
	"关": {"观"}, "注": {"住"}, "赞": {"站"}, "原": {"员"}, "全": {"权"},
	"网": {"往"}, "第": {"弟"}, "药": {"要"}, "病": {"并"}, "医": {"一"},
}

var asrFillers = []string{"嗯", "呃", "那个", "就是", "然后", "啊", "哎"}

var digitChars = []rune("零一二三四五六七八九")

// asrShape rewrites a line the way a recogniser might hear it: no
// punctuation, some homophones, a dropped character now and then,
// fillers, and numbers flipped between digits and characters. It is
// seeded per line so the robustness set is the same on every run.
func asrShape(text string, rng *rand.Rand) string {
	var out []rune
	for _, r := range text {
		switch {
		case r >= '0' && r <= '9' && rng.IntN(2) == 0:
			out = append(out, digitChars[r-'0'])
			continue
		case r < 0x80 && !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'):
			continue // punctuation and spaces
		case strings.ContainsRune("，。！？、；：“”‘’（）《》…—～·", r):
			continue
		}
		if i := strings.IndexRune(string(digitChars), r); i >= 0 && rng.IntN(3) == 0 {
			out = append(out, rune('0'+i/3)) // each CJK digit is 3 bytes
			continue
		}
		if rng.IntN(60) == 0 {
			continue // dropped
		}
		if alts, ok := asrHomophones[string(r)]; ok && rng.IntN(8) == 0 {
			out = append(out, []rune(alts[rng.IntN(len(alts))])...)
		} else {
			out = append(out, r)
		}
		if rng.IntN(25) == 0 {
			out = append(out, []rune(asrFillers[rng.IntN(len(asrFillers))])...)
		}
	}
	return string(out)
}

// asrSeed fixes the robustness set; change it only with the figures.
const asrSeed = 20261206

// TestASRShapedNeverTuneSets measures how much recall and false-alarm
// rate move when the never-tune sets are rewritten the way a recogniser
// hears them. It prints aggregate figures only.
func TestASRShapedNeverTuneSets(t *testing.T) {
	// measured 0.046 and 0.002 in round 7, 0.047 and 0.004 in round 6
	// (2026-12-07; 0.029 and 0.002 in round 10, 0.033 and -0.004 in
	// round 9, 0.040 and 0.002 in round 5, 0.066 and 0.004 after the
	// model first trained on recogniser-shaped copies, 0.067 the day
	// before)
	const maxRecallDrop, maxFARise = 0.04, 0.01
	l, err := NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	sets, name := neverTuneSets(t), "never-tune"
	if *tuneOnly {
		sets, name = modelTrainingSets(t), "tune sets"
	}
	var clean, noisy setScore
	for _, p := range sets {
		lines := readCorpusFile(t, p)
		shaped := make([]corpusLine, len(lines))
		for i, c := range lines {
			rng := rand.New(rand.NewPCG(asrSeed, uint64(i)))
			c.text = asrShape(c.text, rng)
			shaped[i] = c
		}
		clean.add(scoreSet(l, lines))
		noisy.add(scoreSet(l, shaped))
	}
	t.Log(clean.summary(name + " as written"))
	t.Log(noisy.summary(name + " ASR-shaped"))
	drop, rise := clean.recall()-noisy.recall(), noisy.fa()-clean.fa()
	t.Logf("ASR shaping: recall drops %.3f, false-alarm rate rises %.3f", drop, rise)
	if drop > maxRecallDrop {
		t.Errorf("ASR-shaped recall drops %.3f, more than %.3f", drop, maxRecallDrop)
	}
	if rise > maxFARise {
		t.Errorf("ASR-shaped false-alarm rate rises %.3f, more than %.3f", rise, maxFARise)
	}
}

// TestSuggestionsPass: every rule tells the streamer what to say
// instead, and that suggestion must not itself be flagged.
func TestSuggestionsPass(t *testing.T) {
	p, err := DefaultPack()
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Rules {
		if fs := l.Check(r.Suggest); len(fs) > 0 {
			t.Errorf("rule %s: its suggestion %q is flagged: %+v", r.ID, r.Suggest, fs)
		}
	}
	for _, c := range p.Explained {
		if fs := l.CheckFinal(c.Suggest); len(fs) > 0 {
			t.Errorf("category %s: its suggestion %q is flagged: %+v", c.Category, c.Suggest, fs)
		}
	}
}
