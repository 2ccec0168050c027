package practice

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cunbo/cunbo/segment"
)

const checkScenario = `scenario 测试
version 1
10 | 阿英 | lajiao | 30 | - | 辣椒酱多少钱一瓶？
card fengmi+5 | 老张 | fengmi | 20 | MED | 蜂蜜能治高血压吗？
card yinshi | 小美 | yinshi | 20 | - | 银手镯是纯银吗？
50 | 路人 | - | 15 | OFFPLAT | 加个微信吧
70 | 阿花 | larou | 20 | - | 腊肉怎么卖？
3 | 山里人 | - | - | - | 主播好
`

func TestCheck(t *testing.T) {
	sc, err := ParseScenario([]byte(checkScenario), nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	u := func(from, to float64, text string) Utterance { return Utterance{At: at(from), End: at(to), Text: text} }
	cards := []CardChange{{at(-30), "lajiao"}, {at(40), "fengmi"}, {at(95), ""}}
	said := []Utterance{
		u(2, 6, "大家好，欢迎来到直播间"),  // 10 characters
		u(12, 16, "辣椒酱三十九块九一瓶"), // 10: answers 阿英 (辣椒, lajiao on screen)
		u(30, 34, "今天天气很好"),     // 6
		u(47, 52, "蜂蜜能降血压"),     // 6: answers 老张, and breaks MED
		u(55, 58, "在直播间下单"),     // 6: answers 路人 (no product: any words)
		u(80, 84, "腊肉好吃"),       // 4: fengmi on screen, not larou
	}
	findings := []Finding{{at(48), "MED"}, {at(81), "ABS"}, {at(130), "ABS"}}
	words := map[string][]string{"lajiao": {"榕江古法辣椒酱"}, "fengmi": {"野生蜂蜜"}, "larou": {"柴火烟熏腊肉"}}
	products := []segment.ProductTime{{ID: "lajiao", Seconds: 40}, {ID: "fengmi", Seconds: 55}}
	comment := segment.QuestionCheck{Line: 8, From: "山里人", Text: "主播好", Asked: true, At: 3, RightCard: true}
	// 小美 waits for the silver card, which she never showed.
	neverAsked := segment.QuestionCheck{Line: 5, From: "小美", Text: "银手镯是纯银吗？", Product: "yinshi", Within: 20, RightCard: true,
		AfterCard: "yinshi", NoCard: true}
	catalogue := map[string]string{"lajiao": "榕江古法辣椒酱", "fengmi": "野生蜂蜜", "larou": "柴火烟熏腊肉", "yinshi": "侗家银手镯",
		"miaoxiu": "苗绣围巾"}

	tests := []struct {
		name string
		said []Utterance
		// speech off: no captions to judge by
		speech bool
		names  map[string]string // the catalogue's; nil: an older caller
		want   segment.Checks
	}{
		{name: "answered, broken, wrong card, dead air, pace", said: said, speech: true, names: catalogue, want: segment.Checks{
			Scenario: "测试", Seconds: 100,
			Questions: []segment.QuestionCheck{
				{Line: 3, From: "阿英", Text: "辣椒酱多少钱一瓶？", Product: "lajiao", Asked: true, At: 10, Within: 30,
					Answered: true, AnswerAt: 12, Card: "lajiao", RightCard: true},
				{Line: 4, From: "老张", Text: "蜂蜜能治高血压吗？", Product: "fengmi", Tempts: "MED", AfterCard: "fengmi", Asked: true, At: 45, Within: 20,
					Answered: true, AnswerAt: 47, Card: "fengmi", RightCard: true, Broke: true},
				neverAsked,
				{Line: 6, From: "路人", Text: "加个微信吧", Tempts: "OFFPLAT", Asked: true, At: 50, Within: 15,
					Answered: true, AnswerAt: 55, Card: "fengmi", RightCard: true},
				{Line: 7, From: "阿花", Text: "腊肉怎么卖？", Product: "larou", Asked: true, At: 70, Within: 20,
					Card: "fengmi", RightCard: false},
				comment,
			},
			Warnings: 2, WarningsPerMinute: 1.2,
			DeadAir:        []segment.Gap{{From: 16, To: 30}, {From: 34, To: 47}, {From: 58, To: 80}, {From: 84, To: 100}},
			CharsPerMinute: 105, // 42 characters in 24 s of speaking
			Products:       products,
			// The products it mentions, not the whole catalogue (no 苗绣).
			Names: map[string]string{"lajiao": "榕江古法辣椒酱", "fengmi": "野生蜂蜜", "larou": "柴火烟熏腊肉", "yinshi": "侗家银手镯"},
		}},
		{name: "right card but off topic is no answer", speech: true,
			said: []Utterance{u(12, 16, "好的好的"), u(30, 34, "今天天气很好")},
			want: segment.Checks{
				Scenario: "测试", Seconds: 100,
				Questions: []segment.QuestionCheck{
					// Unanswered: judged when her time ran out (40 s), when fengmi came up.
					{Line: 3, From: "阿英", Text: "辣椒酱多少钱一瓶？", Product: "lajiao", Asked: true, At: 10, Within: 30,
						Card: "fengmi", RightCard: false},
					{Line: 4, From: "老张", Text: "蜂蜜能治高血压吗？", Product: "fengmi", Tempts: "MED", AfterCard: "fengmi", Asked: true, At: 45, Within: 20,
						Card: "fengmi", RightCard: true, Broke: true},
					neverAsked,
					{Line: 6, From: "路人", Text: "加个微信吧", Tempts: "OFFPLAT", Asked: true, At: 50, Within: 15,
						Card: "fengmi", RightCard: true},
					{Line: 7, From: "阿花", Text: "腊肉怎么卖？", Product: "larou", Asked: true, At: 70, Within: 20,
						Card: "fengmi", RightCard: false},
					comment,
				},
				Warnings: 2, WarningsPerMinute: 1.2,
				DeadAir:        []segment.Gap{{From: 0, To: 12}, {From: 16, To: 30}, {From: 34, To: 100}},
				CharsPerMinute: 75, // 10 characters in 8 s
				Products:       products,
			}},
		{name: "no speech model: caption checks skipped", said: nil, speech: false, want: segment.Checks{
			Scenario: "测试", Seconds: 100,
			Skipped: []string{segment.CheckAnswered, segment.CheckWarnings, segment.CheckDeadAir, segment.CheckPace},
			Questions: []segment.QuestionCheck{
				{Line: 3, From: "阿英", Text: "辣椒酱多少钱一瓶？", Product: "lajiao", Asked: true, At: 10, Within: 30,
					Card: "fengmi", RightCard: false},
				{Line: 4, From: "老张", Text: "蜂蜜能治高血压吗？", Product: "fengmi", Tempts: "MED", AfterCard: "fengmi", Asked: true, At: 45, Within: 20,
					Card: "fengmi", RightCard: true},
				neverAsked,
				{Line: 6, From: "路人", Text: "加个微信吧", Tempts: "OFFPLAT", Asked: true, At: 50, Within: 15,
					Card: "fengmi", RightCard: true},
				{Line: 7, From: "阿花", Text: "腊肉怎么卖？", Product: "larou", Asked: true, At: 70, Within: 20,
					Card: "fengmi", RightCard: false},
				comment,
			},
			DeadAir:  []segment.Gap{},
			Products: products,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(Input{Scenario: sc, Start: t0, End: at(100), Speech: tt.speech, Captions: tt.said,
				Findings: findings, Cards: cards, Words: words, Names: tt.names})
			g, _ := json.MarshalIndent(got, "", " ")
			w, _ := json.MarshalIndent(&tt.want, "", " ")
			if string(g) != string(w) {
				t.Errorf("Check =\n%s\nwant\n%s", g, w)
			}
			// What the box writes, the review service reads.
			rec := segment.Session{Version: segment.SessionVersion, ID: segment.NewSessionID(t0), Start: t0, End: at(100),
				Kind: segment.KindPractice, Checks: got}
			data, _ := json.Marshal(rec)
			if _, err := segment.ParseSession(data); err != nil {
				t.Errorf("session record with these checks: %v", err)
			}
		})
	}
}
