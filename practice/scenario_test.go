package practice

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/overlay"
)

var testProducts = []string{"lajiao", "fengmi", "larou"}

const header = "scenario 测试\nversion 1\n"

func TestParseScenario(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Question // when ok
		errLine int        // when not ok
		errZh   string
	}{
		{name: "start time", in: header + "# 注释\n\n12 | 阿英 | lajiao | 30 | - | 多少钱？\n",
			want: []Question{{Line: 5, From: "阿英", At: 12 * time.Second, Product: "lajiao", Within: 30 * time.Second, Text: "多少钱？"}}},
		{name: "after card, sample, tempts", in: header + "card fengmi+5 | 老张 | fengmi | 40s | MED | 能治高血压吗？ | 不能治病\n",
			want: []Question{{Line: 3, From: "老张", At: 5 * time.Second, AfterCard: "fengmi", Product: "fengmi",
				Within: 40 * time.Second, Tempts: "MED", Text: "能治高血压吗？", Sample: "不能治病"}}},
		{name: "minutes, no product, no answer", in: header + "1:05 | 路人 | - | - | OFFPLAT | 加个微信吧\n",
			want: []Question{{Line: 3, From: "路人", At: 65 * time.Second, Tempts: "OFFPLAT", Text: "加个微信吧"}}},
		{name: "card without offset", in: "\ufeff" + header + "card larou | 甲 | larou | 5 | - | 好吃吗\n",
			want: []Question{{Line: 3, From: "甲", AfterCard: "larou", Product: "larou", Within: 5 * time.Second, Text: "好吃吗"}}},
		{name: "no header", in: "3 | 甲 | - | - | - | 你好\n", errLine: 1, errZh: "文件开头"},
		{name: "no version", in: "scenario 名\n3 | 甲 | - | - | - | 你好\n", errLine: 2, errZh: "文件开头"},
		{name: "bad version", in: "scenario 名\nversion 2\n", errLine: 2, errZh: "版本应该是 1"},
		{name: "no questions", in: header, errLine: 2, errZh: "一个问题也没有"},
		{name: "too few fields", in: header + "3 | 甲 | - | - | 你好\n", errLine: 3, errZh: "6或7段"},
		{name: "bad time", in: header + "\n3x | 甲 | - | - | - | 你好\n", errLine: 4, errZh: "时间"},
		{name: "bad seconds in m:ss", in: header + "1:5 | 甲 | - | - | - | 你好\n", errLine: 3, errZh: "时间"},
		{name: "unknown product", in: header + "3 | 甲 | yinshi | 30 | - | 你好\n", errLine: 3, errZh: "不在商品目录"},
		{name: "unknown card", in: header + "card yinshi+3 | 甲 | - | 30 | - | 你好\n", errLine: 3, errZh: "卡片"},
		{name: "within too short", in: header + "3 | 甲 | - | 2 | - | 你好\n", errLine: 3, errZh: "限时"},
		{name: "unknown category", in: header + "3 | 甲 | - | 30 | CURE | 你好\n", errLine: 3, errZh: "规则"},
		{name: "empty name", in: header + "3 |  | - | 30 | - | 你好\n", errLine: 3, errZh: "名字"},
		{name: "long text", in: header + "3 | 甲 | - | 30 | - | " + strings.Repeat("好", MaxTextRunes+1) + "\n", errLine: 3, errZh: "话要有"},
		{name: "empty sample", in: header + "3 | 甲 | - | 30 | - | 你好 | \n", errLine: 3, errZh: "示范回答"},
		{name: "named twice", in: header + "scenario 又一个\n", errLine: 3, errZh: "两次"},
		{name: "not utf8", in: header + "3 | \xff | - | - | - | 你好\n", errLine: 0, errZh: "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseScenario([]byte(tt.in), testProducts)
			if tt.want != nil {
				if err != nil {
					t.Fatalf("ParseScenario: %v", err)
				}
				if s.Name != "测试" || len(s.Questions) != len(tt.want) {
					t.Fatalf("got %+v", s)
				}
				for i, q := range s.Questions {
					if q != tt.want[i] {
						t.Errorf("question %d = %+v, want %+v", i, q, tt.want[i])
					}
				}
				return
			}
			var le *LineError
			if !errors.As(err, &le) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want a LineError", err)
			}
			if le.Line != tt.errLine || !strings.Contains(le.Zh, tt.errZh) || le.En == "" {
				t.Errorf("err = %v, want line %d with %q", err, tt.errLine, tt.errZh)
			}
			if !strings.Contains(err.Error(), "line ") || !strings.Contains(err.Error(), "第") {
				t.Errorf("err %q lacks the Chinese or the English line", err)
			}
		})
	}
}

// The default set covers the demo catalogue's products and the issue's
// tempting questions, and validates against that catalogue.
func TestDefaultCoversDemoCatalogue(t *testing.T) {
	cat, err := overlay.DemoCatalog()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range cat.Products {
		ids = append(ids, p.ID)
	}
	set, err := Default(ids)
	if err != nil {
		t.Fatal(err)
	}
	asked := map[string]bool{}
	texts := ""
	for _, s := range set {
		for _, q := range s.Questions {
			asked[q.Product] = true
			texts += q.Text + "\n"
			if q.Within > 0 && q.Sample == "" {
				t.Errorf("line %d: a question without a sample answer", q.Line)
			}
		}
	}
	for _, id := range ids {
		if !asked[id] && id != "miaoxiu" { // miaoxiu: its card triggers the other-card question
			t.Errorf("no question about %s", id)
		}
	}
	for _, want := range []string{"能治高血压吗", "全网最便宜", "加个微信吧"} {
		if !strings.Contains(texts, want) {
			t.Errorf("no question with %q", want)
		}
	}
}

func FuzzParseScenario(f *testing.F) {
	data, _ := defaultFiles.ReadFile("scenarios/rongjiang.scn")
	f.Add(data, true)
	f.Add([]byte(header+"card lajiao+5 | 阿英 | lajiao | 30 | MED | 多少钱？ | 三十九\n"), false)
	f.Add([]byte(header+"1:05 | 路人 | - | - | - | 你好\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, withCatalogue bool) {
		var products []string
		if withCatalogue {
			products = testProducts
		}
		s, err := ParseScenario(data, products)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if s.Name == "" || len(s.Questions) == 0 || len(s.Questions) > MaxQuestions {
			t.Fatalf("accepted %+v", s)
		}
		for _, q := range s.Questions {
			if q.From == "" || q.Text == "" || q.At < 0 || q.At > MaxAt ||
				(q.Within != 0 && (q.Within < MinWithin || q.Within > MaxWithin)) {
				t.Fatalf("accepted a bad question %+v", q)
			}
		}
	})
}
