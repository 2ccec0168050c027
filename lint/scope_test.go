package lint

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestScopeAndQualification covers the ways a risky word is not a claim
// (and the ways a claim hides without one). Every line is written for
// this test, not taken from a labelled set; each "none" line was flagged
// by the rules before the scope and qualification checks existed.
func TestScopeAndQualification(t *testing.T) {
	l, err := NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, text string
		want       []string // categories, sorted; nil means clean
	}{
		// negation after the word: the phrase becomes a topic, then a
		// negated verb of saying or trade disowns it
		{"topic then negated verb", "开光这种说法我们不用的", nil},
		{"two characters never said", "特供这两个字我们从来不讲", nil},
		{"disclaimer far after", "全网最低价这种话我们说不出口", nil},
		// negation before, over a whole reported claim or a verb of saying
		{"doubt over a quote", "别信那些说吃了蜂蜜就能治好胃病的", nil},
		{"negated saying reaches far", "我们不敢跟大家说吃了这个能降血压", nil},
		{"emphatic not-negation", "不是我夸我们家的腊肉就是最好吃的", []string{"ABS"}},
		{"negation closed by 了", "别在直播间拍了去我们公众号下单", []string{"OFFPLAT"}},
		// a person named after the negated word starts a new clause; a
		// person as the negated verb's object does not
		{"negation stops at a new subject", "这个问题不好答你们下了播私底下找我", []string{"OFFPLAT"}},
		{"person as the object", "不会让大家去别的平台买就在这里拍", nil},
		{"negated saying keeps its reach", "我们不会跟你们讲这是全网最低", nil},
		// what the claim is about: a time order of the village, a quote taken back
		{"earliest is time, not rank", "我们寨子是全乡最早种茶叶的", nil},
		{"quoted claims called lies", "说吃了能降血压的都是骗人的", nil},
		{"doctor on her own health", "医生跟我说我自己血糖高", nil},
		{"asking in the comments", "有什么不懂的在评论区打出来我挨个回", nil},
		{"a negation between the parts", "公众号我们不开的大家就在这里买", nil},
		{"特别 is not a negation", "这个茶对鼻炎特别管用喝几天就好", []string{"MED"}},
		{"modest refusal after", "有人说我们是第一我可不敢当", nil},
		{"absolute word on after-sales", "路上压坏的我们百分之百给你补发", nil},
		// a guarantee of her own delivery or after-sales work is a promise
		// she can keep, not a quality of the goods; the goods' own stay claims
		{"guarantee of packing", "罐子都用气泡膜裹好了绝对不会碎", nil},
		{"guarantee of the address", "每单都对过地址绝对不会给你发错", nil},
		{"percent of re-sending", "少了的百分之百给您补发", nil},
		{"guarantee of the goods", "这个蜂蜜放多久绝对不会坏", []string{"UNVERIF"}},
		{"guarantee, then a refund", "保证没有任何风险不新鲜包换", []string{"UNVERIF"}},
		{"guarantee of the body", "老人小孩喝了绝对不会过敏", []string{"UNVERIF"}},
		// a claim named, then dismissed or denied and corrected after it
		{"dismissed as made up", "什么国宴专供那都是编的我们就是山里人家", nil},
		{"dismissed as superstition", "戴了招财辟邪那都是迷信", nil},
		{"denied, then what it is", "国家认证什么的我们没有就是自家地里种的", nil},
		{"resumptive pronoun", "排毒功能它没有就是普通的茶", nil},
		{"pronoun but no denial", "这个茶有排毒功能它没有副作用", []string{"HEALTH", "UNVERIF"}},
		{"a dismissal of others is no retraction", "我们是国宴专供的别人家的都是假的", []string{"DISPARAGE", "STATE"}},
		{"those others are fake", "我家的米最正宗外头那些都是假的", []string{"ABS", "DISPARAGE"}},
		// the doctor on her family; her own worry; a best within her own range
		{"doctor on her grandmother", "医生说我外婆血压高要少吃盐", nil},
		{"doctor on her confinement", "医生说她坐月子不能吃生冷的", nil},
		{"doctor on the goods", "医生说我们这个茶能降血脂", []string{"DATA", "MED"}},
		{"her only worry", "我唯一害怕的是下雨天发不了货", nil},
		{"best of her six", "我们有六种蜂蜜里这个最甜", nil},
		{"best of her spice levels", "辣椒酱有三个辣度这个最香", nil},
		// guarantees by shape: no defect under any condition, not one drop
		{"no fault wherever tested", "拿到哪里化验都查不出一点毛病", []string{"UNVERIF"}},
		{"however long it keeps", "这个腊肉不管放多久都不会长虫", []string{"UNVERIF"}},
		{"not half a speck", "我们家的蜂蜜没有掺半点杂质", []string{"UNVERIF"}},
		{"not one grain of fertiliser", "这片茶园没施过一粒化肥", []string{"UNVERIF"}},
		{"no drop, no chemical named", "我们没有一点点办法", nil},
		{"any weather, her own work", "不管刮风下雨我们都不会停播", nil},
		// the claim's verb echoed, negated: she refuses what was asked
		{"echo refusal", "要加我微信的我一律不加大家就在直播间问", nil},
		{"echo refusal after a request", "老有人让我加他微信我是不会加的", nil},
		// 不加就抢不到了 is also coercion (INDUCE), which the model adds
		{"echo as a condition", "快加我微信不加就抢不到了", []string{"INDUCE", "OFFPLAT"}},
		{"echo as a condition with 的话", "加我微信啊不加的话没有优惠", []string{"OFFPLAT"}},
		// a fibre's share off a label; a percent on a result stays a claim
		{"fibre on the label", "这条围巾是百分之百羊毛织的", nil},
		{"percent on a result", "百分之百喝了睡得好", []string{"HEALTH", "UNVERIF"}},
		// recogniser output: digits for characters, any of the three de
		{"lone 1 as a character", "这个银镯子戴1辈子都不会变色", []string{"UNVERIF"}},
		{"lone 0 as a character", "我们的辣椒酱0添加", []string{"UNVERIF"}},
		{"得 for 的", "西江是全世界最大得苗寨", nil},
		{"a number stays a number", "这款一罐19块9包邮", nil},
		{"impersonated accounts", "快手上我只有这一个号其他的都是假的", nil},
		{"不是…是 corrects", "这不是药是补肾的好东西", []string{"HEALTH"}},
		// her own goals, a doctor's referral, the doctor on her own health
		{"goal", "我们的目标是今年卖出一万罐", nil},
		{"doctor referral in another clause", "姜茶暖身子可以但是生病了还是要去医院", nil},
		{"negated referral is a claim", "喝这个茶就不用去医院了", []string{"MED"}},
		{"doctor about herself", "医生说我血糖高叫我少吃甜的", nil},
		// who or what the absolute word qualifies
		{"head noun: a method", "最好吃的做法是蒸着吃", nil},
		{"subject: her son", "我儿子考试拿了全班第一名", nil},
		{"subject is the product again", "我儿子说我们的腊肉是全网最好", []string{"ABS"}},
		// platform named while selling only here
		{"negated later part", "拼多多上没有我们的店", nil},
		{"cannot find us there", "淘宝上搜不到我们", nil},
		{"redirect", "拼多多上有我们的店", []string{"OFFPLAT"}},
		// paraphrases without a listed word
		{"no one better", "找不出比我们家更香的腊肉", []string{"ABS"}},
		{"medicine compared", "比天天吃降压药强多了", []string{"MED"}},
		{"officials drink it", "军区首长都在喝这个茶", []string{"STATE"}},
		{"likes for a lottery", "满一千个赞我就抽五个人送蜂蜜", []string{"INDUCE"}},
		{"redirect as instruction", "去我的公众号里下单更便宜", []string{"OFFPLAT"}},
		{"price superlative", "全国都找不到比这更便宜的了", []string{"ABS", "PRICE"}},
		// what someone else said, then her answer to it
		{"report rejected", "有人说这个米酒能治关节炎，莫信", nil},
		{"report answered no", "网上讲蜂蜜可以降血糖，不是的哈", nil},
		{"report agreed", "有人说这个米酒能治关节炎，是真的", []string{"MED"}},
		{"report, no answer", "老人讲这个姜能治风湿", []string{"MED"}},
		// said both ways, a question rather than a claim
		{"A-not-A", "排毒不排毒我讲不来，就是好吃", nil},
		// a list of claims taken back as one
		{"list then topic", "降血压，治失眠，这些话我们都不讲", nil},
		{"list, no taking back", "降血压，治失眠，样样都行", []string{"MED"}},
		// a disclaimer that is itself denied insists instead
		{"denied disclaimer", "这个茶能降血压，不是乱讲", []string{"MED"}},
		// 莫 is the dialect's 别
		{"dialect negation", "莫加我微信，就在这里拍", nil},
		// the name of a drug is not a claim; dropping the drug is
		{"drug named", "我爸每天吃降压药，茶也喝", nil},
		{"drug dropped", "喝了这个茶，降压药都停了", []string{"MED"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, f := range l.Check(c.text) {
				if !slices.Contains(got, f.Category) {
					got = append(got, f.Category)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("Check(%q) categories %v, want %v (%+v)", c.text, got, c.want, l.Check(c.text))
			}
		})
	}
}

// TestCategoryModelSpeaksOnlyWhereRulesCannotDecide drives the model
// plumbing with a model that is sure of HEALTH on any text: it must stay
// silent on short lines, on partial captions that end in the start of a
// rule phrase (a final one is whole and judged), on hedged lines and where a rule
// already found something, and otherwise report the whole utterance with
// the category's law, explanation and suggestion.
func TestCategoryModelSpeaksOnlyWhereRulesCannotDecide(t *testing.T) {
	p, err := DefaultPack()
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	m := l.m.Load()
	cats := Categories()
	const dim = 1 << 12
	sure := &catModel{dim: dim, maxN: 3, cats: cats}
	w := make([]int8, dim*len(cats))
	health := slices.Index(cats, "HEALTH")
	for range cats {
		sure.bias = append(sure.bias, -5)
		sure.scale = append(sure.scale, 1)
		sure.logit = append(sure.logit, 1)
		sure.veto = append(sure.veto, float32(math.Inf(-1)))
	}
	for f := range dim {
		w[f*len(cats)+health] = 1
	}
	sure.setWeights(w)
	m.model = sure
	m.indexRules()
	told, _ := m.told("HEALTH")
	cases := []struct {
		name, text   string
		final, model bool
	}{
		{"whole claim", "这个蜂蜜喝下去整个人精气神都回来了", false, true},
		{"too short", "精气神回来了", false, false},
		{"too short, final", "精气神回来了", true, false},
		{"partial ends in the start of a pattern", "今天的辣椒酱呢全网", false, false},
		// a final caption is whole: nothing more of the phrase is coming
		{"final ends in the start of a pattern", "今天的辣椒酱呢全网", true, true},
		{"hedged by a negation", "这个蜂蜜喝下去精气神不会回来", false, false},
		{"hedged by a negation, final", "这个蜂蜜喝下去精气神不会回来", true, false},
		{"hedged by a referral", "精气神不好的话还是去医院看看吧", false, false},
		{"rules found something", "今天的辣椒酱全网最低价", false, false},
		{"rules found something, final", "今天的辣椒酱全网最低价", true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check := l.Check
			if c.final {
				check = l.CheckFinal
			}
			fs := check(c.text)
			var mf *Finding
			for i := range fs {
				if fs[i].Rule == "model-HEALTH" {
					mf = &fs[i]
				}
			}
			if (mf != nil) != c.model {
				t.Fatalf("Check(%q) = %+v, model finding wanted: %v", c.text, fs, c.model)
			}
			if mf == nil {
				return
			}
			n := len([]rune(c.text))
			if mf.Start != 0 || mf.End != n || mf.Match != c.text || mf.Law != told.Law || mf.Explain != told.Explain || mf.Suggest != told.Suggest {
				t.Errorf("model finding %+v, want the whole utterance [0,%d) with the HEALTH category's law, explanation and suggestion (line %d)", *mf, n, told.Line)
			}
		})
	}
	// the built-in model decodes and names every category once
	cm, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cm.cats, Categories()) {
		t.Errorf("built-in model categories %v", cm.cats)
	}
}

// TestCategoryModelVeto drives the veto with a model sure that no line
// holds PRICE and that every line holds ABS: a line whose only findings
// are PRICE is cleared, a line with an ABS finding keeps all its findings,
// and a model without the veto flag clears nothing.
func TestCategoryModelVeto(t *testing.T) {
	l := newLinterWithoutModel(t)
	m := l.m.Load()
	cats := Categories()
	const dim = 1 << 12
	price, abs := slices.Index(cats, "PRICE"), slices.Index(cats, "ABS")
	doubter := func(flags byte) *catModel {
		cm := &catModel{dim: dim, maxN: 3, flags: flags, cats: cats}
		cm.setWeights(make([]int8, dim*len(cats)))
		for k := range cats {
			cm.bias = append(cm.bias, 0)
			cm.scale = append(cm.scale, 1)
			cm.logit = append(cm.logit, float32(math.Inf(1))) // never speaks
			cm.veto = append(cm.veto, float32(math.Inf(-1)))
			cm.hedgedVeto = append(cm.hedgedVeto, float32(math.Inf(-1)))
			switch k {
			case price:
				cm.bias[k] = -20
				cm.veto[k] = -5
			case abs:
				cm.bias[k] = 20
				cm.veto[k] = -5
			}
		}
		return cm
	}
	cases := []struct {
		name, text string
		flags      byte
		want       []string
	}{
		{"only price findings are cleared", "最后一天原价一百九十九今天只要九十九", flagVeto, nil},
		{"an undoubted finding keeps the rest", "全国都找不到比这更便宜的了", flagVeto, []string{"ABS", "PRICE"}},
		{"no veto flag, no veto", "最后一天原价一百九十九今天只要九十九", 0, []string{"PRICE"}},
		{"longer than any line it learned from", strings.Repeat("今天给大家介绍我们村自己做的", 3) + "最后一天原价一百九十九今天只要九十九", flagVeto, []string{"PRICE"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m.model = nil
			if got := categoriesOf(l.Check(c.text)); !slices.Contains(got, "PRICE") {
				t.Fatalf("without a model Check(%q) = %v; the case needs a PRICE finding", c.text, got)
			}
			m.model = doubter(c.flags)
			m.indexRules()
			if got := categoriesOf(l.Check(c.text)); !slices.Equal(got, c.want) {
				t.Errorf("Check(%q) categories %v, want %v", c.text, got, c.want)
			}
		})
	}
}

func categoriesOf(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		if !slices.Contains(out, f.Category) {
			out = append(out, f.Category)
		}
	}
	slices.Sort(out)
	return out
}

// TestModelScopedFeatures: with flagScoped a negated clause adds features
// of its own, so 不敢说最好 and 最好 differ by more than the 不敢说; the
// clause after a break is left as it is.
func TestModelScopedFeatures(t *testing.T) {
	l := newLinterWithoutModel(t)
	m := l.m.Load()
	count := func(flags byte, text string) int {
		cm := &catModel{dim: 1 << 15, maxN: 3, flags: flags}
		sc := m.pool.Get().(*scratch)
		defer m.pool.Put(sc)
		nt := m.scan(text, sc)
		return len(cm.features(m.seg, nt, sc, nil))
	}
	cases := []struct {
		name, text string
		extra      bool
	}{
		{"negated clause", "我们不敢说这个蜂蜜是最好的", true},
		{"no hedge word", "我们敢说这个蜂蜜是最好的呀", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plain, scoped := count(0, c.text), count(flagScoped, c.text)
			if (scoped > plain) != c.extra {
				t.Errorf("%q: %d features plain, %d scoped; extra scoped features wanted: %v", c.text, plain, scoped, c.extra)
			}
		})
	}
}
