package lint

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

var (
	updateModel = flag.Bool("update-model", false, "retrain lint/model/category.bin from the sets that may be tuned on")
	cvLines     = flag.Bool("cv-lines", false, "with -cv, print every false alarm and miss of the train/ folds")
	cvSettings  = flag.String("cv", "", "cross-validate these training settings (key=value,...; see parseSettings) instead of the committed ones")
	cvRules     = flag.Bool("cv-rules", false, "with -cv, train no model: score the rules alone on every fold, in seconds, while editing the rule pack")
)

// trainSettings fix how the category model is trained; changing any of
// the committed ones changes the committed model.
type trainSettings struct {
	dim       uint32
	maxN      int
	flags     byte
	epochs    int
	rate      float64
	decay     float64 // learning rate falls as rate/(1+decay*epoch)
	l2        float64 // on the weights a line touches
	posWeight float64 // positives are rare in every category
	// prob is the probability a category must exceed to be reported;
	// veto holds, per category, the one below which a rule finding of it
	// is dropped (with flagVeto; a category not listed is never vetoed).
	prob float64
	veto map[string]float64
	// hedgedProb is the probability a category must exceed on a hedged
	// or rule-judged line (flagHedged, flagRuled); 0 is prob.
	hedgedProb float64
	// hedgedVeto holds, per category, the veto threshold on hedged lines
	// (a category not listed is never vetoed there).
	hedgedVeto map[string]float64
	// asrCopies is how many recogniser-shaped copies of each line are
	// trained on besides the line itself.
	asrCopies int
	seed      uint64
}

// modelSettings were chosen by leave-one-set-out cross-validation over
// the sets that may be tuned on (TestCategoryModelCrossValidation), never
// on a frozen set. Round 4 (2026-12-07, with train/paraphrase2.tsv and
// train/tempting2.tsv; all eleven folds, recall / false-alarm lines, mean
// of three seeds unless said): the round-3 settings 0.837 / 84 of
// 2,676 (one seed); flagAdd
// (the model adds a category to a line the rules flagged) +0.004 recall,
// no false alarm more; a veto for SUPERST besides PRICE cleared 3 false
// alarms and no true finding (for ABS, STATE, MED and HEALTH a veto still
// drops more true findings than false ones; for UNVERIF, the weakest
// category, it cleared 6 false alarms for 10 true findings, 0.69 → 0.66;
// for OFFPLAT 5 for 3, but it dropped 快加我微信不加就抢不到了, a
// redirect TestScopeAndQualification holds the rules to); gse
// words and word pairs (flagWords) +0.002 recall (+0.006 on the train/
// folds) for +2 false alarms, within the ±6 lines other seeds move it.
// Parts of speech (flagPOS) and hedged-clause words (flagWordScope) added
// false alarms; 2^16 buckets, class weight 2 and thresholds 0.9/0.93
// moved nothing past the seed noise.
//
// Round 6 (2026-12-07, four more independent sets: train/paraphrase3,
// tempting3, hedged and speech2; all fifteen folds, recall / false-alarm
// rate): the round-5 settings 0.802 / 0.047; letting the model judge
// hedged lines (flagHedged) 0.885 / 0.064 and lines a rule word judged
// (flagRuled) 0.929 / 0.075, the extra false alarms mostly negated claims
// a bag of words reads as claims; a veto for every category at 0.1 on
// top 0.895 / 0.046; class weight 2 0.859 / 0.027 (3 → 1.5 → 2:
// 0.895/0.046, 0.854/0.023, 0.859/0.027; another seed 0.860 / 0.028);
// masking allow-phrases and exceptions instead of keeping their words
// 0.861 / 0.029. On a hedged line the veto at 0.1 overruled the rules'
// own scope work (这个不能说 | 能降血压 after a pause, 没有掺半点杂质):
// there it is 0.01 and never for MED or UNVERIF, 0.865 / 0.034 (0.862 /
// 0.031 with them, but the scope tests fail). Tried and left out:
// 2^16 buckets, two recogniser copies, l2 3e-4, probability 0.8–0.93 and
// a hedged-line threshold of 0.95–0.99 (all on the same frontier, within
// ±0.005 recall for ±0.004 false alarms).
//
// Round 7 (the same day, five more independent sets: train/paraphrase4,
// paraphrase5, tempting4, asrnoise and asrnoise2; all twenty folds): the
// round-6 settings 0.858 / 0.027 with the data alone, but the retrained
// model overruled more of the rules' held scope cases (下了播私底下找我
// after 不好答, 这不是药是补肾的好东西), so the hedged-line veto leaves out
// HEALTH and OFFPLAT too (0.858 / 0.030), and the model no longer reports
// a category on a line where the rules weighed a candidate of it against
// a dismissal or disclaimer (戴了招财辟邪那都是迷信; 0.856 / 0.029; against
// any hedge it cost 0.03 recall for 0.003 false alarms). The veto reads
// only lines as long as those it learned from (modelVetoMaxRunes).
//
// Round 9 (the same day, eight more independent sets: train/paraphrase7–11,
// tempting6, speech4, asrnoise3; the categories' own safer phrasings among
// the clean lines; all thirty-one folds): the same settings 0.847 / 0.029.
// Tried and left out: 2^16 buckets 0.853 / 0.030 (the same frontier,
// twice the file); class weight 1.5 0.829 / 0.027 (200 findings lost for
// 26 false alarms); n-grams of Southwestern-Mandarin sounds (toneless
// pinyin with z/zh, c/ch, s/sh, n/l, f/h, in/ing, en/eng merged, from
// go-pinyin's dictionary) beside the characters', for homophones a
// recogniser writes: 0.864–0.868 / 0.037–0.039 on the sets before round
// 9's last four (against 0.852 / 0.032), the extra false alarms on plain
// clean lines (米酒我晚上吃饭的时候喝一小杯 不多喝); sounds of 3-grams
// only 0.852 / 0.035.
//
// Round 10 (2026-12-07, the rules' scope, no new data): what someone else
// said answered no, A-not-A, a list of claims disowned as one, 莫, drug
// names, more ways of taking a claim back; with them, all thirty-one folds
// 0.845 / 0.022 (rules alone 0.618 / 0.034, were 0.619 / 0.045). A MED veto
// of 0.02 instead of 0.1 kept 比天天吃降压药强多了 and 降压药都停了, which
// the retrained model had overruled (0.845 / 0.023 → 0.845 / 0.022, +3
// findings). Probability 0.9 0.841 / 0.022: 35 findings for 2 false alarms.
var modelSettings = trainSettings{
	dim: 1 << 15, maxN: 3, flags: flagScoped | flagHedged | flagVeto | flagWords | flagAdd | flagRuled,
	epochs: 30, rate: 0.2, decay: 0.1, l2: 1e-4, posWeight: 2,
	prob: 0.85, hedgedProb: 0.99, veto: vetoWith(vetoEvery(0.1), "MED", 0.02), hedgedVeto: vetoExcept(vetoEvery(0.01), "MED", "UNVERIF", "HEALTH", "OFFPLAT"),
	asrCopies: 1, seed: 20261206,
}

// vetoEvery sets one veto threshold for every category.
func vetoEvery(p float64) map[string]float64 {
	v := map[string]float64{}
	for _, c := range Categories() {
		v[c] = p
	}
	return v
}

// vetoWith sets one category's veto threshold in v.
func vetoWith(v map[string]float64, cat string, p float64) map[string]float64 {
	v[cat] = p
	return v
}

// vetoExcept leaves the categories out of v.
func vetoExcept(v map[string]float64, cats ...string) map[string]float64 {
	for _, c := range cats {
		delete(v, c)
	}
	return v
}

// parseSettings reads "maxN=4,flags=3,prob=0.7" over base.
func parseSettings(base trainSettings, s string) (trainSettings, error) {
	for kv := range strings.SplitSeq(s, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return base, fmt.Errorf("setting %q: want key=value", kv)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return base, fmt.Errorf("setting %q: %w", kv, err)
		}
		switch k {
		case "dim":
			base.dim = uint32(f)
		case "maxN":
			base.maxN = int(f)
		case "flags":
			base.flags = byte(f)
		case "epochs":
			base.epochs = int(f)
		case "rate":
			base.rate = f
		case "l2":
			base.l2 = f
		case "pos":
			base.posWeight = f
		case "prob":
			base.prob = f
		case "hprob":
			base.hedgedProb = f
		case "hveto":
			base.hedgedVeto = vetoEvery(f)
		case "veto":
			base.flags |= flagVeto
			for _, c := range Categories() {
				base.veto = maps.Clone(base.veto)
				if base.veto == nil {
					base.veto = map[string]float64{}
				}
				base.veto[c] = f
			}
		case "asr":
			base.asrCopies = int(f)
		case "seed":
			// another seed shows how much of a difference is the
			// training's own noise
			base.seed = uint64(f)
		default:
			if c, ok := strings.CutPrefix(k, "hveto."); ok && CategoryName(c) != "" {
				base.hedgedVeto = maps.Clone(base.hedgedVeto)
				if base.hedgedVeto == nil {
					base.hedgedVeto = map[string]float64{}
				}
				base.hedgedVeto[c] = f
				continue
			}
			c, ok := strings.CutPrefix(k, "veto.")
			if !ok || CategoryName(c) == "" {
				return base, fmt.Errorf("setting %q: unknown key", kv)
			}
			base.flags |= flagVeto
			base.veto = maps.Clone(base.veto)
			if base.veto == nil {
				base.veto = map[string]float64{}
			}
			base.veto[c] = f
		}
	}
	return base, nil
}

// modelTrainingSets are the labelled sets the model may learn from:
// never final.tsv or a frozen half.
func modelTrainingSets(t testing.TB) []string {
	tune, err := filepath.Glob("testdata/unseen/*_tune.tsv")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tune)
	train, err := filepath.Glob("testdata/train/*.tsv")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(train)
	sets := append([]string{"testdata/corpus.tsv", "testdata/heldout.tsv", "testdata/written.tsv"}, tune...)
	return append(sets, train...)
}

// trainASRHomophones are confusions a Mandarin recogniser makes on
// selling talk, written from general knowledge of Mandarin ASR and of
// southwestern Mandarin (z/zh, c/ch, s/sh and n/l merged, tones lost),
// mostly whole words so a copy stays readable. It is not the table the
// ASR-shaped test uses, so that test still measures something unseen.
var trainASRHomophones = map[string][]string{
	"保证": {"保正", "包证"}, "治疗": {"制疗", "志疗"}, "降压": {"将压"}, "血压": {"雪压"},
	"血糖": {"血堂"}, "糖尿病": {"唐尿病"}, "最低": {"最底"}, "第一": {"地一"},
	"全网": {"全忘"}, "国家": {"国加"}, "官方": {"关方"}, "专利": {"专力"},
	"认证": {"任证"}, "纯天然": {"存天然"}, "退款": {"退宽"}, "抽奖": {"抽讲"},
	"点赞": {"电赞"}, "关注": {"关朱"}, "淘宝": {"陶宝"}, "拼多多": {"拼朵朵"},
	"抖音": {"斗音"}, "快手": {"块手"}, "私聊": {"思聊"}, "便宜": {"变宜"},
	"原价": {"元价"}, "神奇": {"神旗"}, "保佑": {"保又"}, "转运": {"转云"},
	"假货": {"价货"}, "医生": {"依生"}, "延年益寿": {"延年一寿"}, "增强": {"曾强"},
	"免疫力": {"免一力"}, "销量": {"消量"}, "排名": {"牌名"}, "冠军": {"关军"},
	"唯一": {"维一"}, "独家": {"读家"}, "权威": {"权为"}, "特供": {"特功"},
	"央视": {"秧视"}, "根治": {"跟治"}, "说": {"缩"}, "真": {"针"}, "正": {"整"},
	"能": {"楞"}, "农": {"龙"}, "吃": {"呲"}, "送": {"宋"}, "少": {"扫"},
	"身体": {"深体"}, "绝对": {"决对"}, "永远": {"用远"}, "效果": {"笑果"},
}

var trainASRFillers = []string{"嗯", "呃", "那个", "这个", "就是说", "对吧", "哈"}

// trainASRShape rewrites a training line as a recogniser might write it:
// punctuation and spaces gone, numbers flipped between digits and
// characters, a homophone now and then, a dropped character, fillers.
func trainASRShape(text string, rng *rand.Rand) string {
	rs := []rune(text)
	var out []rune
	const cjkDigits = "零一二三四五六七八九"
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if unicode.IsPunct(r) || unicode.IsSpace(r) || unicode.IsSymbol(r) {
			continue
		}
		if r >= '0' && r <= '9' && rng.IntN(2) == 0 {
			out = append(out, []rune(cjkDigits)[r-'0'])
			continue
		}
		if d := strings.IndexRune(cjkDigits, r); d >= 0 && rng.IntN(3) == 0 {
			out = append(out, rune('0'+d/3))
			continue
		}
		replaced := false
		for n := 4; n >= 1 && !replaced; n-- {
			if i+n > len(rs) {
				continue
			}
			if alts, ok := trainASRHomophones[string(rs[i:i+n])]; ok && rng.IntN(3) == 0 {
				out = append(out, []rune(alts[rng.IntN(len(alts))])...)
				i += n - 1
				replaced = true
			}
		}
		if replaced {
			continue
		}
		if rng.IntN(50) == 0 {
			continue
		}
		out = append(out, r)
		if rng.IntN(20) == 0 {
			out = append(out, []rune(trainASRFillers[rng.IntN(len(trainASRFillers))])...)
		}
	}
	return string(out)
}

// trainCategoryModel trains one logistic regression per category with
// seeded SGD and returns the encoded, int8-quantised model. Every product
// is converted to float32 explicitly so no platform fuses operations and
// the bytes are the same everywhere.
func trainCategoryModel(m *matcher, lines []corpusLine, st trainSettings) []byte {
	cats := Categories()
	ci := map[string]int{}
	for i, c := range cats {
		ci[c] = i
	}
	shell := &catModel{dim: st.dim, maxN: st.maxN, flags: st.flags}
	var xs [][]uint32
	var ys [][]bool
	sc := m.pool.Get().(*scratch)
	defer m.pool.Put(sc)
	add := func(text string, labels []string) {
		nt := m.scan(text, sc)
		x := shell.features(m.seg, nt, sc, nil)
		y := make([]bool, len(cats))
		for _, lab := range labels {
			y[ci[lab]] = true
		}
		xs, ys = append(xs, x), append(ys, y)
	}
	for i, c := range lines {
		add(c.text, c.labels)
		for j := range st.asrCopies {
			rng := rand.New(rand.NewPCG(st.seed+uint64(j)+1, uint64(i)))
			add(trainASRShape(c.text, rng), c.labels)
		}
	}
	w := make([][]float32, len(cats))
	for k := range w {
		w[k] = make([]float32, st.dim)
	}
	b := make([]float32, len(cats))
	rng := rand.New(rand.NewPCG(st.seed, 1))
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	l2, pw := float32(st.l2), float32(st.posWeight)
	for ep := range st.epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		lr := float32(st.rate / (1 + st.decay*float64(ep)))
		for _, i := range order {
			for k := range cats {
				z := b[k]
				for _, f := range xs[i] {
					z += w[k][f]
				}
				p := float32(1 / (1 + math.Exp(-float64(z))))
				g := p
				if ys[i][k] {
					g = float32(float32(p-1) * pw)
				}
				for _, f := range xs[i] {
					w[k][f] -= float32(lr * float32(g+float32(l2*w[k][f])))
				}
				b[k] -= float32(lr * g)
			}
		}
	}
	logit := func(p float64) float32 {
		if p <= 0 {
			return float32(math.Inf(-1))
		}
		return float32(math.Log(p / (1 - p)))
	}
	var out bytes.Buffer
	out.WriteString(modelMagic)
	le := binary.LittleEndian
	out.Write(le.AppendUint32(nil, st.dim))
	out.Write(le.AppendUint32(nil, uint32(len(cats))))
	out.Write([]byte{byte(st.maxN), st.flags, byte(math.Round(st.hedgedProb * 100)), 0})
	for k, cat := range cats {
		out.WriteByte(byte(len(cat)))
		out.WriteString(cat)
		var mx float32
		for _, v := range w[k] {
			mx = max(mx, float32(math.Abs(float64(v))))
		}
		scale := float32(1)
		if mx > 0 {
			scale = mx / 127
		}
		out.Write(le.AppendUint32(nil, math.Float32bits(b[k])))
		out.Write(le.AppendUint32(nil, math.Float32bits(scale)))
		out.Write(le.AppendUint32(nil, math.Float32bits(logit(st.prob))))
		out.Write(le.AppendUint32(nil, math.Float32bits(logit(st.veto[cat]))))
		out.Write(le.AppendUint32(nil, math.Float32bits(logit(st.hedgedVeto[cat]))))
		for _, v := range w[k] {
			out.WriteByte(byte(int8(max(-127, min(127, math.Round(float64(v/scale)))))))
		}
	}
	return out.Bytes()
}

// TestCategoryModelCrossValidation trains the model on every set that may
// be tuned on but one and scores the linter (rules and model) on the one
// left out, for each set in turn: the development signal for the model's
// settings, which never touches a frozen set. The rules were written from
// the older sets, so the train/ folds, which no rule has seen, are the
// honest ones; the test scores only them and holds them to floors a little
// below what the committed settings reach. With -cv SETTINGS it scores
// every fold with those settings instead (-cv epochs=30 for the committed
// ones):
//
//	go test -tags ne -run CrossValidation ./lint/ -v -cv maxN=4,flags=3
func TestCategoryModelCrossValidation(t *testing.T) {
	const (
		// a little below what the committed settings reach on the train/
		// folds (0.837, 0.033 on fourteen folds in round 7 on 2026-12-07;
		// 0.840, 0.040 on nine in round 6, where the round-5 settings
		// scored 0.747, 0.058; other seeds swing the false alarms by
		// ±0.004)
		minTrainRecall = 0.82
		// 0.833, 0.024 in round 10 on thirty-one folds (0.835, 0.031
		// in round 9, before the rules' scope work)
		maxTrainFA = 0.035
	)
	if os.Getenv("CUNBO_TEST_EMULATOR") != "" {
		// fourteen trainings take 17 minutes under qemu; the floors hold
		// the settings, which test-unit checks natively, and this
		// architecture's model bytes are held by
		// TestCategoryModelIsReproducible
		t.Skip("cross-validation runs natively (test-unit), not under an emulator")
	}
	if raceDetector {
		// thirty-one trainings took 17 minutes of test-unit's race run
		// on 23 folds; `make test-unit` runs this test again without
		// -race, where it takes two
		t.Skip("cross-validation runs natively (make test-unit's second lint step), not under -race")
	}
	st, err := parseSettings(modelSettings, *cvSettings)
	if err != nil {
		t.Fatal(err)
	}
	l := newLinterWithoutModel(t)
	m := l.m.Load()
	sets := modelTrainingSets(t)
	data := make([][]corpusLine, len(sets))
	for i, p := range sets {
		data[i] = readCorpusFile(t, p)
	}
	var rulesAll, modelAll, rulesTrain, modelTrain setScore
	for i, p := range sets {
		// the floors need only the train/ folds; the others (which the
		// rules were written from) are for choosing settings
		if *cvSettings == "" && !strings.Contains(p, "/train/") {
			continue
		}
		rest := suggestionLines(t)
		for j := range sets {
			if j != i {
				rest = append(rest, data[j]...)
			}
		}
		m.model = nil
		rs := scoreSet(l, data[i])
		ms := rs
		if !*cvRules {
			cm, err := decodeModel(trainCategoryModel(m, rest, st))
			if err != nil {
				t.Fatal(err)
			}
			m.model = cm
			m.indexRules()
			ms = scoreSet(l, data[i])
		}
		name := strings.TrimPrefix(p, "testdata/")
		t.Logf("%-22s rules recall %.3f fa %.3f | with model recall %.3f fa %.3f", name, rs.recall(), rs.fa(), ms.recall(), ms.fa())
		if *cvLines && strings.HasPrefix(name, "train/") {
			for _, a := range ms.alarms {
				t.Log("  ALARM ", a)
			}
			for _, m := range ms.misses {
				t.Log("  MISS  ", m)
			}
		}
		rulesAll.add(rs)
		modelAll.add(ms)
		if strings.HasPrefix(name, "train/") {
			rulesTrain.add(rs)
			modelTrain.add(ms)
		}
	}
	t.Log(rulesAll.summary("CV all, rules only"))
	t.Log(rulesTrain.summary("CV train/, rules only"))
	if *cvRules {
		return
	}
	t.Log(modelAll.summary("CV all, with model"))
	t.Log(modelTrain.summary("CV train/, with model"))
	if *cvSettings != "" {
		return
	}
	if modelTrain.recall() < minTrainRecall {
		t.Errorf("cross-validated recall on train/ %.3f below the floor %.3f", modelTrain.recall(), minTrainRecall)
	}
	if modelTrain.fa() > maxTrainFA {
		t.Errorf("cross-validated false-alarm rate on train/ %.3f above the ceiling %.3f", modelTrain.fa(), maxTrainFA)
	}
}

// TestCategoryModelIsReproducible retrains the category model from the
// committed data and settings and requires the committed bytes. With
// -update-model it writes them instead:
//
//	go test -tags ne -run TestCategoryModelIsReproducible ./lint/ -update-model
func TestCategoryModelIsReproducible(t *testing.T) {
	l := newLinterWithoutModel(t)
	var lines []corpusLine
	for _, p := range modelTrainingSets(t) {
		lines = append(lines, readCorpusFile(t, p)...)
	}
	lines = append(lines, suggestionLines(t)...)
	got := trainCategoryModel(l.m.Load(), lines, modelSettings)
	if *updateModel {
		if err := os.WriteFile("model/category.bin", got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote model/category.bin (%d bytes, %d lines)", len(got), len(lines))
		return
	}
	if !bytes.Equal(got, categoryModelBin) {
		t.Fatalf("model/category.bin is not what the committed data and settings train (%d vs %d bytes); retrain with -update-model", len(categoryModelBin), len(got))
	}
	if _, err := decodeModel(got); err != nil {
		t.Fatal(err)
	}
}

// suggestionLines are the pack's safer phrasings as clean lines: what the
// box tells her to say instead must never be flagged (TestSuggestionsPass),
// and a model that judges hedged lines otherwise learns 不错 as a claim.
func suggestionLines(t testing.TB) []corpusLine {
	t.Helper()
	p, err := DefaultPack()
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusLine
	for _, r := range p.Rules {
		out = append(out, corpusLine{class: "suggestion", text: r.Suggest})
	}
	for _, c := range p.Explained {
		if !slices.ContainsFunc(out, func(l corpusLine) bool { return l.text == c.Suggest }) {
			out = append(out, corpusLine{class: "suggestion", text: c.Suggest})
		}
	}
	return out
}

// newLinterWithoutModel builds the default pack's linter without loading
// the committed model, which training replaces (and which may be stale).
func newLinterWithoutModel(t testing.TB) *Linter {
	t.Helper()
	p, err := DefaultPack()
	if err != nil {
		t.Fatal(err)
	}
	p.Model = ""
	l, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	// the rules a model set in later may veto
	m := l.m.Load()
	if m.modelRules, err = defaultRuleIDs(); err != nil {
		t.Fatal(err)
	}
	m.indexRules()
	return l
}

// FuzzDecodeModel: a damaged model file is refused with an error, never a
// panic.
func FuzzDecodeModel(f *testing.F) {
	f.Add(categoryModelBin)
	f.Add(categoryModelBin[:64])
	f.Add([]byte(modelMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		cm, err := decodeModel(b)
		if err == nil && len(cm.lanes) != int(cm.dim)*((len(cm.cats)+3)/4) {
			t.Fatalf("decoded %d weight words for %d categories", len(cm.lanes), len(cm.cats))
		}
	})
}
