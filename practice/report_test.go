package practice

import (
	"reflect"
	"testing"

	"github.com/cunbo/cunbo/segment"
)

func TestPlainReport(t *testing.T) {
	q := func(text string, tempts string, answered, right, broke bool) segment.QuestionCheck {
		return segment.QuestionCheck{Text: text, Tempts: tempts, Asked: true, Within: 30, Answered: answered, RightCard: right, Broke: broke}
	}
	tests := []struct {
		name string
		c    segment.Checks
		want Report
	}{
		{name: "all well", c: segment.Checks{Questions: []segment.QuestionCheck{
			q("多少钱？", "", true, true, false), q("能治高血压吗？", "MED", true, true, false)},
			DeadAir: []segment.Gap{}, CharsPerMinute: 220},
			want: Report{Good: []Point{{"✅", "顾客的问题，你都及时回答了"}, {"🛡️", "有人问“能治高血压吗？”，你没有乱说"},
				{"🖼️", "讲到哪个商品，就放了哪张卡片"}}}},
		{name: "things to fix", c: segment.Checks{Questions: []segment.QuestionCheck{
			q("多少钱？", "", true, true, false), q("能治高血压吗？", "MED", true, true, true), q("辣不辣？", "", false, false, false)},
			Warnings: 2, DeadAir: []segment.Gap{{From: 1, To: 20}}, CharsPerMinute: 400},
			want: Report{Good: []Point{{"✅", "回答了2个问题"}},
				Next: []Point{{"⚠️", "顾客问“能治高血压吗？”，你的回答违规了"}, {"❓", "“辣不辣？”没有及时回答，要在30秒内回答"},
					{"🖼️", "顾客问“辣不辣？”时，要翻到这个商品的卡片"}}}},
		{name: "no speech model", c: segment.Checks{Skipped: []string{segment.CheckAnswered, segment.CheckWarnings, segment.CheckDeadAir, segment.CheckPace},
			Questions: []segment.QuestionCheck{q("多少钱？", "", false, true, false)}},
			want: Report{Good: []Point{{"🖼️", "讲到哪个商品，就放了哪张卡片"}},
				Missing: "🎤 这次没有听写说的话，回答、违规话、冷场和语速没有检查"}},
		{name: "nothing asked", c: segment.Checks{Skipped: []string{segment.CheckAnswered, segment.CheckWarnings, segment.CheckDeadAir, segment.CheckPace}},
			want: Report{Good: []Point{{"💪", "你完成了一次练习"}}, Missing: "🎤 这次没有听写说的话，回答、违规话、冷场和语速没有检查"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PlainReport(&tt.c)
			if len(got.Good) > MaxPoints || len(got.Next) > MaxPoints {
				t.Fatalf("more than %d points: %+v", MaxPoints, got)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PlainReport =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
