package cards

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/overlay"
)

func linter(t *testing.T) *lint.Linter {
	t.Helper()
	lt, err := lint.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	return lt
}

// TestCardsThatBreakARuleAreNotShown: on-screen text is advertising; a
// card whose name or tagline breaks a rule is left out and the problem
// says which card, which words and what to write instead (issue 12 item
// 11).
func TestCardsThatBreakARuleAreNotShown(t *testing.T) {
	tests := []struct {
		name      string
		csv       string
		wantCards []string
		wantProbs []string // "where|words|hint" substrings, one per problem
	}{
		{
			name:      "the name breaks two rules",
			csv:       "名称,价格\n全网最好的野生蜂蜜 包治百病,128\n榕江古法辣椒酱,39.9\n",
			wantCards: []string{"榕江古法辣椒酱"},
			wantProbs: []string{
				"商品.csv 第2行「全网最好的野生蜂蜜 包治百病」|“全网最好的”|价格很实惠",
				"商品.csv 第2行「全网最好的野生蜂蜜 包治百病」|“包治百病”|只讲口味",
			},
		},
		{
			name:      "the tagline breaks a rule",
			csv:       "名称,价格,卖点\n野生蜂蜜,128,降血压 全国第一\n腊肉,88,柴火慢熏\n",
			wantCards: []string{"腊肉"},
			wantProbs: []string{"第2行「野生蜂蜜」|卡片卖点里的", "第2行「野生蜂蜜」|卡片卖点里的"},
		},
		{
			name:      "no card left: the box streams without one and says so",
			csv:       "名称,价格\n全网最低价辣椒酱,39.9\n",
			wantCards: nil,
			wantProbs: []string{"第2行「全网最低价辣椒酱」|全网最低", "商品.csv|没有一张卡片可以显示"},
		},
		{
			name:      "bad rows are listed with an example",
			csv:       "名称,价格\n蜂蜜,三十\n腊肉,88\n",
			wantCards: []string{"腊肉"},
			wantProbs: []string{"商品.csv 第2行（价格）|无法识别“三十”|1,280"},
		},
		{
			name:      "an unreadable catalogue means no cards, not no stream",
			csv:       "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00",
			wantCards: nil,
			wantProbs: []string{"商品.csv|旧版 Excel|.xlsx"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "商品.csv")
			if err := os.WriteFile(path, []byte(tt.csv), 0o644); err != nil {
				t.Fatal(err)
			}
			cat, problems := Load(path, dir, linter(t))
			var names []string
			for _, p := range cat.Products {
				names = append(names, p.Name)
			}
			if strings.Join(names, "|") != strings.Join(tt.wantCards, "|") {
				t.Errorf("cards %q, want %q", names, tt.wantCards)
			}
			if len(problems) != len(tt.wantProbs) {
				t.Fatalf("problems %+v, want %d", problems, len(tt.wantProbs))
			}
			for i, w := range tt.wantProbs {
				p := problems[i]
				all := p.Where + "|" + p.Message + "|" + p.Hint
				for _, part := range strings.Split(w, "|") {
					if !strings.Contains(all, part) {
						t.Errorf("problem %d %+v lacks %q", i, p, part)
					}
				}
				if p.Source != SourceCard && p.Source != SourceCatalog {
					t.Errorf("source %q", p.Source)
				}
			}
		})
	}
}

// TestDemoCatalogPasses: the cards the simulator shows by default break
// no rule.
func TestDemoCatalogPasses(t *testing.T) {
	demo, err := overlay.DemoCatalog()
	if err != nil {
		t.Fatal(err)
	}
	kept, problems := Check(demo, "", linter(t))
	if len(problems) > 0 || kept.Len() != demo.Len() {
		t.Fatalf("demo cards: %d of %d kept, %+v", kept.Len(), demo.Len(), problems)
	}
}

func TestProblemListIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("名称,价格\n")
	for range 300 {
		b.WriteString("蜂蜜,x\n")
	}
	path := filepath.Join(t.TempDir(), "c.csv")
	os.WriteFile(path, []byte(b.String()), 0o644)
	_, problems := Load(path, "", linter(t))
	if len(problems) != MaxProblems || !strings.Contains(problems[MaxProblems-1].Message, "还有 261 个问题") {
		t.Fatalf("%d problems, last %+v", len(problems), problems[len(problems)-1])
	}
}
