package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wire"
	"github.com/cunbo/cunbo/review/wiretest"
	"github.com/cunbo/cunbo/segment"
)

// putPractice stores a practice's session record of box as the ingest does
// and returns its id.
func (e *env) putPractice(box string, start time.Time, d time.Duration, checks *segment.Checks) string {
	e.t.Helper()
	s := wire.Session{Version: wire.SessionVersion, ID: start.UTC().Format("20060102T150405Z") + "-0000beef", Device: "box-1",
		Start: start, End: start.Add(d), Findings: checks.Warnings, Kind: segment.KindPractice, Checks: checks}
	rec := wiretest.JSON(e.t, s)
	if _, err := wire.ParseSession(rec); err != nil {
		e.t.Fatal(err)
	}
	x := store.Session{BoxID: e.boxes[box].id, ID: s.ID, SHA256: "x", Record: rec, Received: start.Add(d + time.Minute)}
	if _, err := e.st.PutSession(context.Background(), x); err != nil {
		e.t.Fatal(err)
	}
	return s.ID
}

// practiceChecks is a 10-minute practice: the price asked and answered in
// 8 s with the right card; the spice asked about another product and not
// answered in 15 s, the wrong card up; a tempting question she fell for;
// a comment; one question never reached; two silences; two products.
func practiceChecks() *segment.Checks {
	return &segment.Checks{Scenario: "榕江 默认", Seconds: 600,
		Questions: []segment.QuestionCheck{
			{Line: 3, From: "小李", Text: "这个辣椒酱多少钱一瓶？", Product: "辣椒酱", Asked: true, At: 12, Within: 15, Answered: true, AnswerAt: 20, Card: "辣椒酱", RightCard: true},
			{Line: 4, From: "阿花", Text: "米酒辣不辣？", Product: "米酒", Asked: true, At: 60, Within: 15, Card: "辣椒酱"},
			{Line: 5, From: "老王", Text: "能治高血压吗？", Tempts: "治病", Asked: true, At: 120, Within: 20, Answered: true, AnswerAt: 125, Broke: true},
			{Line: 6, From: "小美", Text: "主播好漂亮", Asked: true, At: 200},
			{Line: 7, From: "大刘", Text: "发不发新疆？", Within: 15},
		},
		Warnings: 2, WarningsPerMinute: 0.2,
		DeadAir:        []segment.Gap{{From: 300, To: 312}, {From: 400, To: 425}},
		CharsPerMinute: 183,
		Products:       []segment.ProductTime{{ID: "辣椒酱", Seconds: 250}, {ID: "米酒", Seconds: 95}},
	}
}

// practiceWithoutSpeech is what a box without a speech model sends.
func practiceWithoutSpeech() *segment.Checks {
	return &segment.Checks{Scenario: "榕江 默认", Seconds: 300,
		Skipped: []string{segment.CheckAnswered, segment.CheckCard, segment.CheckDeadAir, segment.CheckPace},
		Questions: []segment.QuestionCheck{
			{Line: 3, From: "小李", Text: "这个辣椒酱多少钱一瓶？", Product: "辣椒酱", Asked: true, At: 12, Within: 15, Card: "辣椒酱"},
		},
		Products: []segment.ProductTime{{ID: "辣椒酱", Seconds: 300}},
	}
}

func wantIn(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func wantNotIn(t *testing.T, what, body string, bad ...string) {
	t.Helper()
	for _, w := range bad {
		if strings.Contains(body, w) {
			t.Errorf("%s has %q", what, w)
		}
	}
}

// TestPracticeInConsole: her page lists her practices apart from her lives
// (a practice is no hours live), with their checks and those that could
// not run; the practice page shows each question; a practice is scored,
// scored again (both kept, the newest shown), bad scores refused with
// nothing stored; the ready mark is set and cleared, shown on her page and
// beside her name in the queue; all audited.
func TestPracticeInConsole(t *testing.T) { forEachBackend(t, testPracticeInConsole) }

func testPracticeInConsole(t *testing.T, e *env) {
	ctx := context.Background()
	e.addUser("sw-a", store.RoleSocial)
	boxA := e.addBox("榕江 杨阿姨", "sw-a")
	day := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	id, tar := herSegment(t, 1, day.Add(10*time.Minute), sayLowest)
	e.upload("榕江 杨阿姨", id, tar)
	e.putSession("榕江 杨阿姨", day, 2*time.Hour, 1, id)
	p1 := e.putPractice("榕江 杨阿姨", day.Add(20*time.Hour), 10*time.Minute, practiceChecks())
	p2 := e.putPractice("榕江 杨阿姨", day.Add(30*time.Hour), 5*time.Minute, practiceWithoutSpeech())

	c := client(t)
	csrf := e.login(c, "sw-a")
	her := e.base + "/console/w/" + boxA
	code, body, _ := get(t, c, her)
	if code != http.StatusOK {
		t.Fatalf("her page: %d", code)
	}
	// Lives: one, two hours; practices are not lives.
	wantIn(t, "her page", body, "📺 直播 <b>1</b> 场，共 <b>2.0</b> 小时", "🎓 练习（不算直播）",
		`href="/console/p/`+boxA+`/`+p1+`"`, `href="/console/p/`+boxA+`/`+p2+`"`,
		"💬 按时回答 <b>2</b>/3 个", "🃏 卡片对 <b>1</b>/2", "⚠️ 每分钟提醒 <b>0.2</b> 次", "🤐 冷场 <b>2</b> 次", "🗣️ 每分钟 <b>183</b> 字",
		"辣椒酱 4:10", "米酒 1:35",
		"💬 回答：没法检查", "🃏 卡片：没法检查", "🤐 冷场：没法检查", "🗣️ 快慢：没法检查",
		"📝 还没评分", "还不能正式直播", `id="ready-set"`)
	if n := strings.Count(body, `<a class="prow"`); n != 2 {
		t.Errorf("her page lists %d practices, want 2", n)
	}

	page := e.base + "/console/p/" + boxA + "/" + p1
	code, body, _ = get(t, c, page)
	if code != http.StatusOK {
		t.Fatalf("practice page: %d", code)
	}
	wantIn(t, "practice page", body, "🎓 榕江 杨阿姨 的练习", "📋 榕江 默认",
		"💬 按时回答了 <b>2</b> 个，共 3 个问题", "卡片对了 <b>1</b> 次，共 2 次", "盒子提醒 <b>2</b> 次，每分钟 0.2 次", "诱导问题答错 <b>1</b> 个",
		"冷场（10 秒以上没说话） <b>2</b> 次，共 37 秒", "每分钟说 <b>183</b> 个字",
		"👤 小李：这个辣椒酱多少钱一瓶？", "✅ 第 0:20 回答了（要在 15 秒内）", "🃏 ✅ 卡片对：辣椒酱",
		"👤 阿花：米酒辣不辣？", "❌ 没有在 15 秒内回答", "❌ 问的是 米酒，屏幕上是 辣椒酱",
		"⚖️ 诱导她说：治病 · ❌ <b>她说了不该说的</b>", "只是留言，不用回答", "⏹ 练习结束前还没问到",
		"🤐 第 5:00 到 第 5:12", "🤐 第 6:40 到 第 7:05", `name="present" value="3" required>`)
	wantNotIn(t, "practice page", body, "没法检查", " checked>")
	_, body2, _ := get(t, c, e.base+"/console/p/"+boxA+"/"+p2)
	wantIn(t, "practice without speech", body2, "⚪ 没法检查的：有没有按时回答、卡片对不对、冷场、说话快慢",
		"💬 有没有按时回答：<b>没法检查</b>", "⚠️ 盒子提醒 <b>0</b> 次", "辣椒酱 <b>5:00</b>", "🃏 卡片：没法检查")

	// Bad scores and too long a comment: refused, nothing stored.
	good := url.Values{"csrf": {csrf}, "box": {boxA}, "id": {p1}, "present": {"2"}, "answer": {"1"}, "orders": {"2"}, "rules": {"1"}, "comment": {"价格说清楚了；有人问能不能治病，要说“这是吃的，不是药”。"}}
	for _, bad := range []struct {
		name, field, value string
		want               int
	}{
		{"no score", "orders", "", http.StatusBadRequest},
		{"score 0", "present", "0", http.StatusBadRequest},
		{"score 4", "rules", "4", http.StatusBadRequest},
		{"a word", "answer", "好", http.StatusBadRequest},
		{"comment too long", "comment", strings.Repeat("好", 301), http.StatusBadRequest},
		{"comment with a control character", "comment", "好\x00", http.StatusBadRequest},
		{"a live", "id", day.UTC().Format("20060102T150405Z") + "-0000abcd", http.StatusNotFound},
		{"unknown practice", "id", "20200101T000000Z-00000000", http.StatusNotFound},
	} {
		f := url.Values{}
		for k, v := range good {
			f[k] = v
		}
		f.Set(bad.field, bad.value)
		post(t, c, e.base+"/console/p/assess", f, bad.want)
	}
	if as, err := e.st.PracticeAssessments(ctx, boxA, p1); err != nil || len(as) != 0 {
		t.Fatalf("refused scorings stored: %+v %v", as, err)
	}

	post(t, c, e.base+"/console/p/assess", good, http.StatusSeeOther)
	better := url.Values{}
	for k, v := range good {
		better[k] = v
	}
	better.Set("answer", "3")
	better.Set("rules", "2")
	better.Set("comment", "")
	post(t, c, e.base+"/console/p/assess", better, http.StatusSeeOther)
	as, err := e.st.PracticeAssessments(ctx, boxA, p1)
	if err != nil || len(as) != 2 {
		t.Fatalf("scorings: %+v %v", as, err)
	}
	if a := as[0]; a.Present != 2 || a.Answer != 3 || a.Orders != 2 || a.Rules != 2 || a.Comment != "" || a.Author != "sw-a" {
		t.Errorf("newest scoring %+v", a)
	}
	if as[1].Comment != good.Get("comment") || as[1].Answer != 1 {
		t.Errorf("first scoring %+v", as[1])
	}
	_, body, _ = get(t, c, page+"?msg=assessed")
	wantIn(t, "practice page after scoring", body, "✅ 评分已经保存。", "<b>9/12</b>", "<b>6/12</b>", "🛍️ 介绍商品：<b>基本做到</b>",
		"💬 回答问题：<b>做得好</b>", "💬 回答问题：<b>未做到</b>", "✏️ 价格说清楚了", `name="answer" value="3" required checked>`)
	if strings.Index(body, "<b>9/12</b>") > strings.Index(body, "<b>6/12</b>") {
		t.Errorf("the newest scoring is not first")
	}
	_, body, _ = get(t, c, her)
	wantIn(t, "her page after scoring", body, "📝 评分 9/12 · sw-a", `id="scorechart"`, "共 9 分（满分 12）")

	// Ready: set, shown on her page and beside her name in the queue;
	// cleared again.
	post(t, c, e.base+"/console/ready", url.Values{"csrf": {csrf}, "box": {boxA}, "ready": {"maybe"}}, http.StatusBadRequest)
	post(t, c, e.base+"/console/ready", url.Values{"csrf": {csrf}, "box": {boxA}, "ready": {"1"}}, http.StatusSeeOther)
	_, body, _ = get(t, c, her)
	wantIn(t, "her page, ready", body, "✅ <b>可以正式直播了</b>", "sw-a 在 ", `id="ready-clear"`)
	_, body, _ = get(t, c, e.base+"/console/")
	wantIn(t, "queue, ready", body, `👩 榕江 杨阿姨 <span class="ready-tag">✅ 可以正式直播了</span>`)
	post(t, c, e.base+"/console/ready", url.Values{"csrf": {csrf}, "box": {boxA}, "ready": {"0"}}, http.StatusSeeOther)
	_, body, _ = get(t, c, her)
	wantIn(t, "her page, cleared", body, "还不能正式直播", "取消了“可以正式直播”", `id="ready-set"`)
	_, body, _ = get(t, c, e.base+"/console/")
	wantNotIn(t, "queue, cleared", body, "ready-tag")

	es, err := e.st.Audit(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, a := range es {
		count[a.Action]++
		if a.Action == "practice.assess" && a.Subject != boxA+"/"+p1 {
			t.Errorf("assess audited on %q", a.Subject)
		}
	}
	for action, want := range map[string]int{"practice.view": 3, "practice.assess": 2, "practice.ready": 2} {
		if count[action] != want {
			t.Errorf("%d %s audit entries, want %d", count[action], action, want)
		}
	}
}

// TestPracticeProductNames: a box that sends its products' names has
// them shown where the record names a product (卡片对：榕江古法辣椒酱, not
// lajiao), and questions that never came are said to have not come, with
// the card she never showed, never counted as answered; a record of an
// older box, without names, still shows its ids.
func TestPracticeProductNames(t *testing.T) { forEachBackend(t, testPracticeProductNames) }

func testPracticeProductNames(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	box := e.addBox("榕江 杨阿姨", "sw-a")
	c := client(t)
	e.login(c, "sw-a")
	checks := func(names map[string]string) *segment.Checks {
		return &segment.Checks{Scenario: "榕江特产", Seconds: 900,
			Questions: []segment.QuestionCheck{
				{Line: 9, From: "阿英", Text: "辣椒酱多少钱一瓶？", Product: "lajiao", AfterCard: "lajiao", Asked: true, At: 5, Within: 30,
					Answered: true, AnswerAt: 9, Card: "lajiao", RightCard: true},
				{Line: 10, From: "小李", Text: "腊肉能便宜点吗？", Product: "larou", Asked: true, At: 60, Within: 30, Card: "lajiao"},
				{Line: 13, From: "老张", Text: "蜂蜜能治高血压吗？", Product: "fengmi", AfterCard: "fengmi", NoCard: true, Within: 40, RightCard: true},
				{Line: 14, From: "贵阳妹", Text: "发货到广东要几天？", Product: "fengmi", AfterCard: "fengmi", NoCard: true, Within: 30, RightCard: true},
				{Line: 20, From: "阿花", Text: "银手镯是纯银的吗？", Product: "yinshi", AfterCard: "miaoxiu", NoCard: true, Within: 30, RightCard: true},
				{Line: 21, From: "路人甲", Text: "还在吗？", Within: 30, RightCard: true},
			},
			DeadAir: []segment.Gap{}, CharsPerMinute: 200,
			Products: []segment.ProductTime{{ID: "lajiao", Seconds: 900}},
			Names:    names,
		}
	}
	day := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	tests := []struct {
		name        string
		names       map[string]string
		page, woman []string
	}{
		{name: "names", names: map[string]string{"lajiao": "榕江古法辣椒酱", "larou": "柴火烟熏腊肉", "fengmi": "野生蜂蜜", "miaoxiu": "苗绣围巾"},
			page: []string{"🃏 ✅ 卡片对：榕江古法辣椒酱", "❌ 问的是 柴火烟熏腊肉，屏幕上是 榕江古法辣椒酱", "榕江古法辣椒酱 <b>15:00</b>",
				"💬 按时回答了 <b>1</b> 个，共 2 个问题", "⏹ <b>4</b> 个问题没来，不算回答：她没拿出 野生蜂蜜、苗绣围巾 的卡片",
				"⏹ 没来：她没拿出 野生蜂蜜 的卡片", "⏹ 没来：她没拿出 苗绣围巾 的卡片", "⏹ 练习结束前还没问到"},
			woman: []string{"💬 按时回答 <b>1</b>/2 个 · 4 个没来", "🛍️ 榕江古法辣椒酱 15:00"}},
		{name: "an older box: no names", names: nil,
			page: []string{"🃏 ✅ 卡片对：lajiao", "❌ 问的是 larou，屏幕上是 lajiao", "lajiao <b>15:00</b>",
				"⏹ <b>4</b> 个问题没来，不算回答：她没拿出 fengmi、miaoxiu 的卡片", "⏹ 没来：她没拿出 fengmi 的卡片"},
			woman: []string{"💬 按时回答 <b>1</b>/2 个 · 4 个没来", "🛍️ lajiao 15:00"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := e.putPractice("榕江 杨阿姨", day.Add(time.Duration(i)*time.Hour), 15*time.Minute, checks(tt.names))
			code, body, _ := get(t, c, e.base+"/console/p/"+box+"/"+id)
			if code != http.StatusOK {
				t.Fatalf("practice page: %d", code)
			}
			wantIn(t, "practice page", body, tt.page...)
			if tt.names != nil {
				wantNotIn(t, "practice page", body, "lajiao", "fengmi")
			}
			_, body, _ = get(t, c, e.base+"/console/w/"+box)
			wantIn(t, "her page", body, tt.woman...)
		})
	}
}
