package lint

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func defaultLinter(t testing.TB) *Linter {
	t.Helper()
	l, err := NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// span is written as the matched original text; the test checks that the
// reported offsets cut exactly that text out of the input.
func TestCheckFindsAndPointsAtOriginalText(t *testing.T) {
	l := defaultLinter(t)
	tests := []struct {
		name, text string
		want       []string // "CATEGORY:original match", in order
	}{
		{"plain superlative", "今天的辣椒酱全网最低价", []string{"ABS:全网最低价"}},
		{"filler inside phrase", "全网最呃便宜的腊肉", []string{"ABS:全网最呃便宜"}},
		{"stutter", "最最最香的腊肉", []string{"ABS:最最最香"}},
		{"spaces and symbols inserted", "全 网-最*低 价", []string{"ABS:全 网-最*低 价"}},
		{"full width percent", "１００％原生态", []string{"UNVERIF:１００％"}},
		{"spoken percent", "百分之百纯天然", []string{"UNVERIF:百分之百"}},
		{"short spoken percent", "百分百没有添加", []string{"UNVERIF:百分百"}},
		{"number one full width", "ＮＯ．１的辣椒酱", []string{"ABS:ＮＯ．１"}},
		{"financial numeral", "榕江香肠排第壹", []string{"ABS:排第壹"}},
		{"homophone wechat", "加我威信发给你", []string{"OFFPLAT:加我威信"}},
		{"letter disguise", "想要的加V", []string{"OFFPLAT:加V"}},
		{"homophone lowest", "全网最底价", []string{"ABS:全网最底价"}},
		{"dialect", "莫得副作用", []string{"UNVERIF:莫得副作用"}},
		{"negation does not cross clauses", "不能保证治病但是喝了确实降血糖", []string{"MED:降血糖"}},
		{"small place is no excuse", "榕江的腊肉最香", []string{"ABS:榕江的腊肉最香"}},
		{"small place sales", "我们乡销量最高", []string{"ABS:销量最高"}},
		{"count with measure", "十万人都在吃", []string{"DATA:十万人都在吃"}},
		{"bait with spoken number", "扣个一就送", []string{"INDUCE:扣个一就送"}},
		{"likes threshold", "点赞到五千抽奖", []string{"INDUCE:点赞到五千抽奖"}},
		{"reference price", "原价两百今天五十", []string{"PRICE:原价"}},
		{"state supply", "这是国宴用的腊肉", []string{"STATE:国宴"}},
		{"superstition", "银手镯开过光能辟邪", []string{"SUPERST:开过光", "SUPERST:辟邪"}},
		{"disparage", "别人家的都是假的", []string{"DISPARAGE:别人家的都是假的"}},
		{"health", "喝了提高免疫力", []string{"HEALTH:提高免疫力"}},
		{"two categories", "史上最低价明天就涨价", []string{"PRICE:史上最低", "ABS:史上最低价", "PRICE:明天就涨价"}},
		// clean but tricky: every exception class of COMPLIANCE.md
		{"time word", "最近天气冷最后一批腊肉", nil},
		{"order word", "第一次来的宝宝第一时间下单", nil},
		{"link number", "2号链接和五号链接还有一号链接", nil},
		{"usage tip", "最好放阴凉处最多放一年", nil},
		{"best-before", "最佳食用期是三个月一定要密封", nil},
		{"quantity", "最少拍三斤最大号的罐子最低起拍一件", nil},
		{"own range", "两种口味里这个最甜", nil},
		{"own shop", "店里这款最便宜", nil},
		{"feeling", "我最爱吃这个", nil},
		{"service promise", "保证不会漏发百分之百用心服务", nil},
		{"goal", "希望做出最好的产品", nil},
		{"unrelated", "寨子里最大的那棵古树", nil},
		{"unrelated first", "村里第一个开网店的人", nil},
		{"state title", "侗族大歌是国家级非遗", nil},
		{"standard", "按国家规定退换货符合国标", nil},
		{"composition", "肥肉占三成这是925银", nil},
		{"medical character in place name", "我们是榕江县的自治县特产", nil},
		{"medical words in other senses", "治安很好防治病虫害药材市场卫生院", nil},
		{"sick", "我家娃娃病了今天晚点开播", nil},
		{"negation", "这个不能治病", nil},
		{"disclaimer after", "治病的话我们不敢讲", nil},
		{"not a medicine", "不能代替药物", nil},
		{"platform rule quoted", "平台规定不能私下加联系方式", nil},
		{"one as a word", "大家一起来看一下统一发货", nil},
		{"homophones not folded in general", "醉美榕江", nil},
		{"doubled words", "宝宝们姐姐们慢慢来多多关照", nil},
		{"empty", "", nil},
		{"only symbols", "！！！……", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := l.Check(tt.text)
			rs := []rune(tt.text)
			var desc []string
			for _, f := range got {
				if f.Start < 0 || f.End > len(rs) || f.Start >= f.End {
					t.Fatalf("finding %+v has offsets outside %q", f, tt.text)
				}
				if string(rs[f.Start:f.End]) != f.Match {
					t.Errorf("Match %q is not the original text at [%d,%d) = %q", f.Match, f.Start, f.End, string(rs[f.Start:f.End]))
				}
				if f.Law == "" || f.Explain == "" || f.Suggest == "" || f.Rule == "" {
					t.Errorf("finding %+v lacks law, explanation, suggestion or rule", f)
				}
				desc = append(desc, f.Category+":"+f.Match)
			}
			if strings.Join(desc, " | ") != strings.Join(tt.want, " | ") {
				t.Errorf("Check(%q)\n got  %v\n want %v", tt.text, desc, tt.want)
			}
		})
	}
}

func TestCategoriesAreExactlyTheComplianceCodes(t *testing.T) {
	want := "ABS STATE MED HEALTH UNVERIF DATA PRICE OFFPLAT INDUCE SUPERST DISPARAGE"
	if got := strings.Join(Categories(), " "); got != want {
		t.Fatalf("Categories() = %s, want %s", got, want)
	}
	p, err := DefaultPack()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, r := range p.Rules {
		used[r.Category] = true
	}
	for _, c := range Categories() {
		if !used[c] {
			t.Errorf("the default pack has no rule for %s", c)
		}
	}
}

func TestCheckPausesEndClauses(t *testing.T) {
	l := defaultLinter(t)
	text := "这个不能说能降血压"
	if got := l.Check(text); len(got) != 0 {
		t.Fatalf("negation in the same clause should clear it, got %+v", got)
	}
	// a pause right after 不能说 ends the clause: the claim stands
	got := l.CheckPauses(text, []int{5})
	if len(got) != 1 || got[0].Category != "MED" {
		t.Fatalf("CheckPauses = %+v, want one MED finding", got)
	}
}

func TestCheckInvalidUTF8CountsBytesAsCharacters(t *testing.T) {
	l := defaultLinter(t)
	text := "\xff\xfe全网最低价"
	got := l.Check(text)
	if len(got) != 1 || got[0].Start != 2 || got[0].End != 7 {
		t.Fatalf("got %+v, want one finding at [2,7)", got)
	}
}

func TestParsePackReportsErrorsWithLineNumbers(t *testing.T) {
	tests := []struct {
		name, pack string
		wantLine   int
		wantText   string
	}{
		{"missing version", "[rule A]\ncategory = ABS\npattern = 最好\nlaw = x\nexplain = y\nsuggest = z\n", 1, "version"},
		{"unknown category", "version = 1\n[rule A]\ncategory = ABX\npattern = 最好\nlaw = x\nexplain = y\nsuggest = z\n", 3, "unknown category"},
		{"unbalanced", "version = 1\n[rule A]\ncategory = ABS\npattern = 最(好|香\nlaw = x\nexplain = y\nsuggest = z\n", 4, "unbalanced"},
		{"missing suggest", "version = 1\n[rule A]\ncategory = ABS\npattern = 最好\nlaw = x\nexplain = y\n", 2, "suggest"},
		{"duplicate rule", "version = 1\n[rule A]\ncategory = ABS\npattern = 最好\nlaw = x\nexplain = y\nsuggest = z\n[rule A]\ncategory = ABS\npattern = 最香\nlaw = x\nexplain = y\nsuggest = z\n", 8, "already defined at line 2"},
		{"unknown section", "version = 1\n[rules]\n", 2, "unknown section"},
		{"no equals", "version = 1\n[allow]\nphrase 最近\n", 3, "key = value"},
		{"bad fold", "version = 1\n[normalize]\nfold = 威信\n", 3, "from -> to"},
		{"invalid utf8", "version = 1\n[allow]\nphrase = \xff\n", 3, "UTF-8"},
		{"number only", "version = 1\n[rule A]\ncategory = ABS\npattern = ##\nlaw = x\nexplain = y\nsuggest = z\n", 4, "only a number"},
		{"bad boundary", "version = 1\n[rule A]\ncategory = ABS\npattern = 最好\nboundary = left\nlaw = x\nexplain = y\nsuggest = z\n", 5, "boundary"},
		{"unknown category section", "version = 1\n[category ABX]\nlaw = x\nexplain = y\nsuggest = z\n", 2, "unknown category"},
		{"category without suggest", "version = 1\n[category ABS]\nlaw = x\nexplain = y\n", 2, "category ABS needs law, explain and suggest"},
		{"category explained twice", "version = 1\n[category ABS]\nlaw = x\nexplain = y\nsuggest = z\n[category ABS]\nlaw = x\nexplain = y\nsuggest = z\n", 6, "already explained at line 2"},
		{"pattern in a category", "version = 1\n[category ABS]\npattern = 最好\nlaw = x\nexplain = y\nsuggest = z\n", 3, "unknown key"},
		{"tilde in except", "version = 1\n[rule A]\ncategory = ABS\npattern = 最好\nexcept = 最~好\nlaw = x\nexplain = y\nsuggest = z\n", 5, "'~'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePack("local.pack", strings.NewReader(tt.pack))
			var pe *PackError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *PackError", err)
			}
			found := false
			for _, p := range pe.Problems {
				if p.Line == tt.wantLine && strings.Contains(p.Msg, tt.wantText) {
					found = true
				}
			}
			if !found {
				t.Fatalf("error %q does not report line %d with %q", err, tt.wantLine, tt.wantText)
			}
			if !strings.Contains(err.Error(), "local.pack:") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestCompileRejectsPatternsWithFillers(t *testing.T) {
	p, err := ParsePack("x", strings.NewReader("version = 1\n[normalize]\nfiller = 就是\n[rule A]\ncategory = ABS\npattern = 就是第一\nlaw = x\nexplain = y\nsuggest = z\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(p); err == nil || !strings.Contains(err.Error(), "x:6:") {
		t.Fatalf("New = %v, want an error at x:6", err)
	}
}

// A trainer adds a local word and an allow-phrase without touching Go.
func TestTrainerExtendsPackAndReloadSwapsAtomically(t *testing.T) {
	base, err := DefaultPack()
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Check("我们的折耳根包治百病"); len(got) == 0 {
		t.Fatal("expected MED for 包治百病")
	}
	if got := l.Check("这是寨子里的神仙水"); len(got) != 0 {
		t.Fatalf("unexpected %+v", got)
	}
	local := defaultPack + `
[rule LOCAL-shenxian]
category = MED
pattern = 神仙水
law = 《广告法》第十七条
explain = 把食品说成神药，是在暗示治病
suggest = 说“这是山泉水泡的”
[allow]
phrase = 包治百病的说法
`
	p, err := ParsePack("local.pack", strings.NewReader(local))
	if err != nil {
		t.Fatal(err)
	}
	// readers keep checking while the pack is swapped
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					if len(l.Check("全网最低价")) != 1 {
						t.Error("a check during reload lost its finding")
						return
					}
				}
			}
		}()
	}
	if err := l.Reload(p); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if got := l.Check("这是寨子里的神仙水"); len(got) != 1 || got[0].Rule != "LOCAL-shenxian" {
		t.Fatalf("after reload got %+v", got)
	}
	if got := l.Check("不要信包治百病的说法"); len(got) != 0 {
		t.Fatalf("allow-phrase ignored: %+v", got)
	}
	// a broken pack is refused and the good one stays
	bad, _ := ParsePack("bad", strings.NewReader("version = 1\n[rule B]\ncategory = ABS\npattern = (\n"))
	if bad != nil {
		t.Fatal("broken pack parsed")
	}
	if err := l.Reload(nil); err == nil {
		t.Fatal("Reload(nil) succeeded")
	}
	if got := l.Check("这是寨子里的神仙水"); len(got) != 1 {
		t.Fatal("failed reload replaced the rules")
	}
}

func TestNormaliseNumbers(t *testing.T) {
	l := defaultLinter(t)
	m := l.m.Load()
	tests := []struct{ in, want string }{
		{"三十九块九", "39.9块"},
		{"八百八", "880"},
		{"一万二的", "12000的"},
		{"一百零八斤", "108斤"},
		{"百分之九十的人", "90%的人"},
		{"百分之百", "100%"},
		{"第一次", "第1次"},
		{"第壹", "第1"},
		{"一号链接", "1号链接"},
		{"三点五斤", "3.5斤"},
		{"看一下统一一起", "看一下统一一起"},
		{"万一", "万一"},
		{"十分好吃", "十分好吃"},
		{"ＡＢＣ１２３", "abc123"},
	}
	for _, tt := range tests {
		var sc normalizeScratch
		nt := m.norm.normalize([]rune(tt.in), &sc)
		if got := string(nt.runes); got != tt.want {
			t.Errorf("normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for i, s := range nt.spans {
			if s.start < 0 || s.end > int32(len([]rune(tt.in))) || s.start >= s.end {
				t.Errorf("normalize(%q): rune %d has span %v", tt.in, i, s)
			}
		}
	}
}

func TestParseCN(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"三十九", 39, true}, {"十五", 15, true}, {"八百八", 880, true}, {"两百", 200, true},
		{"十万", 100000, true}, {"一万二", 12000, true}, {"一百零八", 108, true}, {"二零二六", 2026, true},
		{"三亿", 300000000, true}, {"百", 0, false}, {"三四十", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseCN([]rune(tt.in))
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("parseCN(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestScanDecodesLikeRange: scan decodes Chinese characters itself; for
// every three-byte sequence, valid or not, and around it, it reads the
// same runes at the same offsets as ranging over the string.
func TestScanDecodesLikeRange(t *testing.T) {
	l, err := NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	m := l.m.Load()
	sc := m.pool.Get().(*scratch)
	defer m.pool.Put(sc)
	var b []byte
	for c0 := 0xC0; c0 <= 0xFF; c0++ {
		for c1 := range 256 {
			b = b[:0]
			for c2 := range 256 {
				b = append(b, byte(c0), byte(c1), byte(c2), 'a', 0xE4, 0xB8)
			}
			text := string(b)
			m.scan(text, sc)
			n := 0
			for i, r := range text {
				if n >= len(sc.orig) || sc.orig[n] != r || int(sc.origAt[n]) != i {
					t.Fatalf("% x: rune %d decoded as %q at %d, want %q at %d", b[i:min(i+4, len(b))], n, sc.orig[min(n, len(sc.orig)-1)], sc.origAt[min(n, len(sc.origAt)-1)], r, i)
				}
				n++
			}
			if n != len(sc.orig) || int(sc.origAt[n]) != len(text) {
				t.Fatalf("%d runes and end %d, want %d and %d", len(sc.orig), sc.origAt[len(sc.origAt)-1], n, len(text))
			}
		}
	}
}
