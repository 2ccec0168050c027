package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wire"
	"github.com/cunbo/cunbo/review/wiretest"
)

// said is one flagged utterance of a test segment: the words, and the
// finding (category, rule, the flagged part) or none for her own mark.
type said struct {
	text, cat, catName, rule, match string
}

// herSegment is a version 2 segment without a clip: a greeting, then the
// utterance s, at at; n makes its id unique.
func herSegment(t *testing.T, n int, at time.Time, s said) (string, []byte) {
	t.Helper()
	id := at.UTC().Format("20060102T150405000Z") + fmt.Sprintf("-%08x", n)
	g := wiretest.Segment(id, 0)
	g.At, g.Created, g.StatusAt = at, at.Add(12*time.Second), at.Add(12*time.Second)
	hello := "大家好"
	g.Transcript.Text = hello + wire.CaptionSep + s.text
	g.Transcript.Captions = []wire.Caption{
		{At: at.Add(-3 * time.Second), Start: -3, End: -2, Offset: 0, Text: hello},
		{At: at, Start: 0, End: 2, Offset: len([]rune(hello)) + 1, Text: s.text},
	}
	if s.rule == "" {
		g.Reason, g.Findings = wire.ReasonMark, nil
	} else {
		start := len([]rune(hello)) + 1 + len([]rune(strings.Split(s.text, s.match)[0]))
		f := &g.Findings[0]
		f.Category, f.CategoryName, f.Rule, f.Match = s.cat, s.catName, s.rule, s.match
		f.Caption, f.Start, f.End, f.At = 1, start, start+len([]rune(s.match)), at
	}
	return id, wiretest.Tar(t, wiretest.Entry{Name: wire.JSONFile, Body: wiretest.JSON(t, g)})
}

// putSession stores a session record of box as the ingest does.
func (e *env) putSession(box string, start time.Time, d time.Duration, warnings int, segs ...string) {
	e.t.Helper()
	s := wire.Session{Version: wire.SessionVersion, ID: start.UTC().Format("20060102T150405Z") + "-0000abcd", Device: "box-1",
		Start: start, End: start.Add(d), Segments: segs, Findings: warnings}
	rec := wiretest.JSON(e.t, s)
	if _, err := wire.ParseSession(rec); err != nil {
		e.t.Fatal(err)
	}
	x := store.Session{BoxID: e.boxes[box].id, ID: s.ID, SHA256: "x", Record: rec, Received: start.Add(d + time.Minute)}
	if _, err := e.st.PutSession(context.Background(), x); err != nil {
		e.t.Fatal(err)
	}
}

var (
	sayLowest = said{"我们家辣椒酱全网最低价", "ABS", "绝对化用语", "abs-lowest", "全网最低"}
	sayFirst  = said{"这个是我们寨子第一次做", "ABS", "绝对化用语", "abs-lowest", "第一"}
	sayBlood  = said{"喝了这个蜂蜜降血压", "HEALTH", "保健功效", "health-blood", "降血压"}
	sayCure   = said{"姜茶能治感冒", "MED", "疾病治疗功效", "med-cure", "治感冒"}
	sayMark   = said{text: "哎呀我说错了"}
)

// herWeek is the women of TestWomanPage: 杨阿姨 (of sw-a) with two lives
// and their moments, some decided; 吴姐 (of sw-b) with one moment.
type herWeek struct {
	e                    *env
	boxA, boxB           string
	lowest, first, blood string // ids of 杨阿姨's decided moments
	day1, day2           time.Time
}

func newHerWeek(t *testing.T, e *env) *herWeek {
	e.addUser("sw-a", store.RoleSocial)
	e.addUser("sw-b", store.RoleSocial)
	e.addUser("trainer", store.RoleTrainer)
	e.addUser("admin", store.RoleAdmin)
	e.addUser("both", store.RoleSocial, store.RoleTrainer)
	h := &herWeek{e: e, boxA: e.addBox("榕江 杨阿姨", "sw-a"), boxB: e.addBox("雷山 吴姐", "sw-b")}
	// Day 1: two hours live, three warnings (two kinds) and her own mark.
	// Day 2: half an hour, one warning.
	h.day1 = time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	h.day2 = h.day1.Add(24 * time.Hour)
	var ids1 []string
	for i, s := range []said{sayLowest, sayFirst, sayBlood, sayMark} {
		id, tar := herSegment(t, i, h.day1.Add(time.Duration(10+i*20)*time.Minute), s)
		e.upload("榕江 杨阿姨", id, tar)
		ids1 = append(ids1, id)
	}
	h.lowest, h.first, h.blood = ids1[0], ids1[1], ids1[2]
	// The second session lists no segments, as an older box's does: the
	// moment is counted by its time.
	id, tar := herSegment(t, 9, h.day2.Add(10*time.Minute), sayCure)
	e.upload("榕江 杨阿姨", id, tar)
	e.putSession("榕江 杨阿姨", h.day1, 2*time.Hour, 3, ids1...)
	e.putSession("榕江 杨阿姨", h.day2, 30*time.Minute, 1)
	idB, tarB := herSegment(t, 20, h.day2.Add(5*time.Minute), said{"吴家的米酒天下第一", "ABS", "绝对化用语", "abs-first", "第一"})
	e.upload("雷山 吴姐", idB, tarB)
	e.putSession("雷山 吴姐", h.day2, time.Hour, 1, idB)

	// sw-a decides: the lowest price is a real problem, the "first time"
	// a false alarm, the blood pressure real and then coached.
	c := client(t)
	csrf := e.login(c, "sw-a")
	for _, d := range []struct{ id, state string }{{h.lowest, store.StateReal}, {h.first, store.StateFalse},
		{h.blood, store.StateReal}, {h.blood, store.StateCoached}} {
		post(t, c, e.base+"/console/decide", url.Values{"csrf": {csrf}, "box": {h.boxA}, "id": {d.id}, "state": {d.state}}, http.StatusSeeOther)
	}
	post(t, c, e.base+"/console/note", url.Values{"csrf": {csrf}, "box": {h.boxA}, "id": {h.blood}, "text": {"说“蜂蜜很香”就好，不说治病"}}, http.StatusSeeOther)
	return h
}

func post(t *testing.T, c *http.Client, u string, form url.Values, want int) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d", u, resp.StatusCode, want)
	}
}

func get(t *testing.T, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestWomanPage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) { testWomanPage(t, newHerWeek(t, e)) })
}

func testWomanPage(t *testing.T, h *herWeek) {
	e := h.e
	c := client(t)
	e.login(c, "sw-a")
	code, body, _ := get(t, c, e.base+"/console/w/"+h.boxA)
	if code != 200 {
		t.Fatalf("her page: %d\n%s", code, body)
	}
	for _, want := range []string{
		"榕江 杨阿姨 的进步",
		"直播 <b>2</b> 场", "<b>2.5</b> 小时", // 2 h + 0.5 h
		"提醒她 <b>4</b> 次", // the boxes' own counts, 3 + 1
		"“我说错了” <b>1</b> 次",
		"<b>1.5</b> 次",     // day 1: 3 warnings in 2 h
		"<b>2.0</b> 次",     // day 2: 1 in half an hour
		"绝对化用语 2 · 保健功效 1", // day 1's kinds, in COMPLIANCE.md order
		"疾病治疗功效 1",         // day 2's, counted by time
		"绝对化用语：每小时 1.0 次",  // the chart's bars
		"保健功效：每小时 0.5 次",
		"疾病治疗功效：每小时 2.0 次",
		"🔖1",             // her mark above day 1's bar
		"说“蜂蜜很香”就好，不说治病", // the note
		"确实有问题 1 · 👌 误报 1 · 🎓 已经辅导过 1",
		"⏳ 她还没看", // the note, before her box says she read it
	} {
		if !strings.Contains(body, want) {
			t.Errorf("her page lacks %q", want)
		}
	}
	notes, err := e.st.RecentNotes(context.Background(), h.boxA, 1)
	if err != nil || len(notes) != 1 {
		t.Fatalf("her notes: %v %v", notes, err)
	}
	if _, _, err := e.st.MarkNoteRead(context.Background(), h.boxA, notes[0].Seq, time.Date(2026, 12, 6, 6, 5, 0, 0, time.UTC),
		store.AuditEntry{At: time.Now(), Actor: "box:" + h.boxA, Action: "note.read", Subject: h.boxA}); err != nil {
		t.Fatal(err)
	}
	if _, b, _ := get(t, c, e.base+"/console/w/"+h.boxA); !strings.Contains(b, "✅ 她 ") || !strings.Contains(b, "看过了") || strings.Contains(b, "她还没看") {
		t.Errorf("her page does not say she read the note")
	}
	if n := strings.Count(body, "<rect "); n != 3+3 { // three bars' parts, three legend swatches
		t.Errorf("%d rects in the chart, want 6", n)
	}
	for _, id := range []string{h.lowest, h.first, h.blood} {
		if !strings.Contains(body, `href="/console/m/`+h.boxA+`/`+id+`"`) {
			t.Errorf("decided moment %s not listed", id)
		}
	}
	if strings.Contains(body, "吴") {
		t.Errorf("another woman's data on her page")
	}
	// The queue and the moment link to her page.
	for _, p := range []string{"/console/", "/console/m/" + h.boxA + "/" + h.lowest} {
		if _, b, _ := get(t, c, e.base+p); !strings.Contains(b, `href="/console/w/`+h.boxA+`"`) {
			t.Errorf("%s does not link to her page", p)
		}
	}
	// Not hers: another social worker's woman, unknown and malformed ids.
	for _, p := range []string{h.boxB, strings.Repeat("0", 32), "..%2F..%2Freview.db", h.boxA + "x"} {
		if code, _, _ := get(t, c, e.base+"/console/w/"+p); code != http.StatusNotFound {
			t.Errorf("page of %q: %d, want 404", p, code)
		}
	}
	es, err := e.st.Audit(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	views := 0
	for _, a := range es {
		if a.Action == "woman.view" {
			views++
			if a.Actor != "user:sw-a" || a.Subject != h.boxA || !strings.Contains(a.Detail, "from=127.0.0.1") {
				t.Errorf("audit of the view: %+v", a)
			}
		}
	}
	if views != 2 { // before and after her box read the note
		t.Errorf("%d views of her page audited, want 2", views)
	}
}

func TestRulePrecision(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) { testRulePrecision(t, newHerWeek(t, e)) })
}

func testRulePrecision(t *testing.T, h *herWeek) {
	e := h.e
	tests := []struct {
		user string
		want []string // in the page
		not  []string
	}{
		// abs-lowest: 1 real, 1 false (50%); health-blood: 1 coached (100%).
		{"sw-a", []string{`data-rule="abs-lowest"`, `<b class="prec">50%</b>`, `<b class="real">1</b>`, `<b class="false">1</b>`,
			`data-rule="health-blood"`, `<b class="prec">100%</b>`, "这个是我们寨子第一次做", `href="/console/m/` + h.boxA + `/` + h.first + `"`,
			"看过的 3 个"}, // the decided moments that fired rules
			[]string{"abs-first", "med-cure", "天下第一"}},
		{"sw-b", []string{"还没有看过的片段"}, []string{"abs-lowest", "第一次做"}},
		// A trainer learns from every woman's decisions, without the clips.
		{"trainer", []string{`data-rule="abs-lowest"`, "这个是我们寨子第一次做", "所有姐妹"}, []string{`href="/console/m/`}},
	}
	for _, tc := range tests {
		c := client(t)
		e.login(c, tc.user)
		code, body, _ := get(t, c, e.base+"/console/rules")
		if code != 200 {
			t.Fatalf("%s: rules page %d", tc.user, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: rules page lacks %q", tc.user, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(body, n) {
				t.Errorf("%s: rules page has %q", tc.user, n)
			}
		}
	}
}

// corpusOf reads an export as the linter's corpus reader does: comments,
// then lines of exactly three TAB-separated fields with known category
// codes. It returns "labels\tclass\ttext" lines and the comments.
func corpusOf(t *testing.T, body string) (lines, comments []string) {
	t.Helper()
	for i, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if strings.HasPrefix(l, "#") {
			comments = append(comments, l)
			continue
		}
		fs := strings.Split(l, "\t")
		if len(fs) != 3 || fs[2] == "" {
			t.Fatalf("line %d: %q: want 3 tab-separated fields", i+1, l)
		}
		if fs[0] != "-" {
			for _, lab := range strings.Split(fs[0], ",") {
				if lint.CategoryName(lab) == "" {
					t.Fatalf("line %d: unknown category %q", i+1, lab)
				}
			}
		}
		lines = append(lines, l)
	}
	return lines, comments
}

func TestCorpusExport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) { testCorpusExport(t, newHerWeek(t, e)) })
}

func testCorpusExport(t *testing.T, h *herWeek) {
	e := h.e
	// sw-b decides her one moment a false alarm, so the trainer's export
	// has both caseloads.
	cb := client(t)
	csrfB := e.login(cb, "sw-b")
	_, q, _ := get(t, cb, e.base+"/console/")
	_, rest, _ := strings.Cut(q, `href="/console/m/`+h.boxB+`/`)
	idB, _, _ := strings.Cut(rest, `"`)
	post(t, cb, e.base+"/console/decide", url.Values{"csrf": {csrfB}, "box": {h.boxB}, "id": {idB}, "state": {store.StateFalse}}, http.StatusSeeOther)

	mine := []string{"ABS\treview-real\t我们家辣椒酱全网最低价", "-\treview-false\t这个是我们寨子第一次做", "HEALTH\treview-real\t喝了这个蜂蜜降血压"}
	tests := []struct {
		user string
		want []string
	}{
		{"sw-a", mine},
		{"sw-b", []string{"-\treview-false\t吴家的米酒天下第一"}},
		{"trainer", append([]string{"-\treview-false\t吴家的米酒天下第一"}, mine...)},
		{"admin", append([]string{"-\treview-false\t吴家的米酒天下第一"}, mine...)},
	}
	for _, tc := range tests {
		c := client(t)
		e.login(c, tc.user)
		code, body, hdr := get(t, c, e.base+"/console/export.tsv")
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/tab-separated-values") || !strings.Contains(hdr.Get("Content-Disposition"), "attachment") {
			t.Fatalf("%s: export %d %q %q", tc.user, code, hdr.Get("Content-Type"), hdr.Get("Content-Disposition"))
		}
		lines, comments := corpusOf(t, body)
		got := map[string]bool{}
		for _, l := range lines {
			got[l] = true
		}
		for _, w := range tc.want {
			if !got[w] {
				t.Errorf("%s: export lacks %q; has %q", tc.user, w, lines)
			}
		}
		if len(lines) != len(tc.want) {
			t.Errorf("%s: %d lines, want %d: %q", tc.user, len(lines), len(tc.want), lines)
		}
		// Each line names its source segment and rule; never a woman's
		// name.
		if tc.user == "sw-a" && !strings.Contains(body, "# from "+h.boxA+"/"+h.first+" rules abs-lowest decided false\n-\treview-false\t") {
			t.Errorf("%s: the false alarm's comment does not name its segment and rule:\n%s", tc.user, body)
		}
		for _, name := range []string{"杨阿姨", "吴姐", "榕江", "雷山", "sw-"} {
			if strings.Contains(body, name) {
				t.Errorf("%s: export names %q", tc.user, name)
			}
		}
		if len(comments) < len(lines) {
			t.Errorf("%s: %d comments for %d lines", tc.user, len(comments), len(lines))
		}
	}
	es, err := e.st.Audit(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	exports := map[string]string{}
	for _, a := range es {
		if a.Action == "export" {
			exports[a.Actor] = a.Detail
		}
	}
	for u, want := range map[string]string{"user:sw-a": "scope=caseload lines=3 real=2 false=1", "user:trainer": "scope=all lines=4"} {
		if !strings.HasPrefix(exports[u], want) || !strings.Contains(exports[u], "from=127.0.0.1") {
			t.Errorf("audit of %s's export: %q, want %q", u, exports[u], want)
		}
	}
}

// A phrase said across two captions is one corpus line: the two
// utterances joined.
func TestExportAcrossCaptions(t *testing.T) { forEachBackend(t, testExportAcrossCaptions) }

func testExportAcrossCaptions(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	box := e.addBox("榕江 杨阿姨", "sw-a")
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	id := at.Format("20060102T150405000Z") + "-0000beef"
	g := wiretest.Segment(id, 0)
	g.At, g.Created, g.StatusAt = at, at.Add(12*time.Second), at.Add(12*time.Second)
	g.Transcript.Text = "今天全网最" + wire.CaptionSep + "低价就在我们家" + wire.CaptionSep + "点个关注"
	g.Transcript.Captions = []wire.Caption{{At: at, Start: 0, End: 1, Offset: 0, Text: "今天全网最"},
		{At: at.Add(time.Second), Start: 1, End: 2, Offset: 6, Text: "低价就在我们家"},
		{At: at.Add(2 * time.Second), Start: 2, End: 3, Offset: 14, Text: "点个关注"}}
	f := &g.Findings[0]
	f.Caption, f.Start, f.End, f.Match = 0, 2, 8, "全网最\n低价"
	e.upload("榕江 杨阿姨", id, wiretest.Tar(t, wiretest.Entry{Name: wire.JSONFile, Body: wiretest.JSON(t, g)}))
	c := client(t)
	csrf := e.login(c, "sw-a")
	post(t, c, e.base+"/console/decide", url.Values{"csrf": {csrf}, "box": {box}, "id": {id}, "state": {store.StateReal}}, http.StatusSeeOther)
	_, body, _ := get(t, c, e.base+"/console/export.tsv")
	lines, _ := corpusOf(t, body)
	if len(lines) != 1 || lines[0] != "ABS\treview-real\t今天全网最低价就在我们家" {
		t.Fatalf("export: %q", lines)
	}
}
