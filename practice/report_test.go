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
	// notCame waits for a card she never showed (card id+5).
	notCame := func(text, card string) segment.QuestionCheck {
		return segment.QuestionCheck{Text: text, Within: 30, RightCard: true, AfterCard: card, NoCard: true}
	}
	noSpeech := []string{segment.CheckAnswered, segment.CheckWarnings, segment.CheckDeadAir, segment.CheckPace}
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
		// Issue 17: 4 of 10 came in 15 minutes; "all answered" was a lie.
		{name: "questions whose cards she never showed", c: segment.Checks{Questions: []segment.QuestionCheck{
			q("多少钱？", "", true, true, false), q("辣不辣？", "", true, true, false), q("小孩能吃吗？", "", true, true, false),
			q("几天到？", "", true, true, false), notCame("蜂蜜能治病吗？", "fengmi"), notCame("蜂蜜是野生的吗？", "fengmi"),
			notCame("腊肉咸不咸？", "larou"), {Text: "主播好", RightCard: true, AfterCard: "yinshi", NoCard: true}},
			DeadAir: []segment.Gap{}, CharsPerMinute: 220,
			Names: map[string]string{"fengmi": "野生蜂蜜", "larou": "柴火烟熏腊肉"}},
			want: Report{Good: []Point{{"✅", "来了的4个问题，你都及时回答了"}, {"🖼️", "讲到哪个商品，就放了哪张卡片"}, {"👍", "没有说违规的话"}},
				Next: []Point{{"🛍️", "有3个问题没来：你没拿出野生蜂蜜、柴火烟熏腊肉的卡片"}}}},
		{name: "no card shown at all, no speech model, a record without names", c: segment.Checks{Skipped: noSpeech,
			Questions: []segment.QuestionCheck{notCame("多少钱？", "lajiao"), notCame("甜不甜？", "fengmi"),
				notCame("咸不咸？", "larou"), notCame("纯银吗？", "yinshi"), notCame("几天到？", "lajiao")}},
			want: Report{Good: []Point{{"💪", "你完成了一次练习"}},
				Next:    []Point{{"🛍️", "有5个问题没来：你没拿出lajiao、fengmi、larou等的卡片"}},
				Missing: "🎤 这次没有听写说的话，回答、违规话、冷场和语速没有检查"}},
		{name: "the practice ended before a question came", c: segment.Checks{Questions: []segment.QuestionCheck{
			q("多少钱？", "", true, true, false), {Text: "发货快吗？", Within: 30, RightCard: true}},
			DeadAir: []segment.Gap{}, CharsPerMinute: 220},
			want: Report{Good: []Point{{"✅", "来了的1个问题，你都及时回答了"}, {"🖼️", "讲到哪个商品，就放了哪张卡片"}, {"👍", "没有说违规的话"}},
				Next: []Point{{"⏰", "有1个问题没来，练习就结束了，下次多练一会儿"}}}},
		// The sim's practice with speech: a question missed, a warning, cards
		// never shown, the end too soon. Three points fit: what she did
		// (missed, warned) comes before what never came.
		{name: "a warning outranks questions that never came", c: segment.Checks{Questions: []segment.QuestionCheck{
			q("多少钱？", "", false, true, false), notCame("甜不甜？", "fengmi"), {Text: "发货快吗？", Within: 30, RightCard: true}},
			Warnings: 2, DeadAir: []segment.Gap{}, CharsPerMinute: 220, Names: map[string]string{"fengmi": "野生蜂蜜"}},
			want: Report{Good: []Point{{"🖼️", "讲到哪个商品，就放了哪张卡片"}, {"🗣️", "一直在说话，没有冷场"}, {"🎵", "说话快慢正好"}},
				Next: []Point{{"❓", "“多少钱？”没有及时回答，要在30秒内回答"}, {"⚠️", "有2次说了违规的话，看看提醒"},
					{"🛍️", "有1个问题没来：你没拿出野生蜂蜜的卡片"}}}},
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
