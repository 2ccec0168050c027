package console_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cunbo/cunbo/practice"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wiretest"
	"github.com/cunbo/cunbo/segment"
)

// uploadSession sends a session record over tus as a box's upload driver
// does (kind "session"), so it is validated and stored by the ingest.
func (e *env) uploadSession(box, id string, rec []byte) {
	e.t.Helper()
	token := e.token(box)
	sum := sha256.Sum256(rec)
	b64 := base64.StdEncoding.EncodeToString
	md := "kind " + b64([]byte("session")) + ",id " + b64([]byte(id)) + ",sha256 " + b64([]byte(hex.EncodeToString(sum[:])))
	req, _ := http.NewRequest("POST", e.base+"/api/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Upload-Length", strconv.Itoa(len(rec)))
	req.Header.Set("Upload-Metadata", md)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("tus create: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("PATCH", resp.Header.Get("Location"), bytes.NewReader(rec))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Cunbo-Stored") != "created" {
		e.t.Fatalf("tus patch: %d %q", resp.StatusCode, resp.Header.Get("Cunbo-Stored"))
	}
}

// boxPractice is the record a box makes of a practice of the default
// scenario: the checks computed by practice.Check from her captions, the
// cards she showed and a warning, as the box computes them.
func boxPractice(t *testing.T, start time.Time) (string, []byte) {
	t.Helper()
	scns, err := practice.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	end := at(300)
	checks := practice.Check(practice.Input{
		Scenario: scns[0], Start: start, End: end, Speech: true,
		Cards: []practice.CardChange{{At: at(1), ID: "lajiao"}, {At: at(120), ID: "fengmi"}},
		Captions: []practice.Utterance{
			{At: at(2), End: at(6), Text: "大家好，今天给大家看看我们榕江的辣椒酱"},
			{At: at(12), End: at(18), Text: "辣椒酱三十九块九一瓶，二百八十克"},
			{At: at(70), End: at(80), Text: "我们家辣椒酱全网最低价"},
			{At: at(130), End: at(138), Text: "蜂蜜是食品，不能治病"},
		},
		Findings: []practice.Finding{{At: at(72), Category: "ABS"}},
	})
	s := segment.Session{Version: segment.SessionVersion, ID: segment.NewSessionID(start), Device: "box-1",
		Start: start, End: end, Findings: 1, Kind: segment.KindPractice, Checks: checks}
	return s.ID, wiretest.JSON(t, s)
}

// The console part: a practice a box uploaded appears on her page
// with its checks, opens on its own page with each question, and can be
// assessed and she marked ready — on a phone and a laptop, with nothing
// wider than the screen.
func TestPracticeInChromium(t *testing.T) {
	e := newEnv(t)
	e.addUser("sw-a", store.RoleSocial)
	boxA := e.addBox("榕江 杨阿姨", "sw-a")
	start := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	e.putSession("榕江 杨阿姨", start.Add(-24*time.Hour), 2*time.Hour, 0)
	for i, size := range []struct {
		name string
		w, h int
	}{{"phone", 360, 640}, {"laptop", 1366, 768}} {
		t.Run(size.name, func(t *testing.T) {
			id, rec := boxPractice(t, start.Add(time.Duration(i)*time.Hour))
			e.uploadSession("榕江 杨阿姨", id, rec)
			ctx := chromium(t, size.w, size.h)
			noSideways := func(where string) {
				t.Helper()
				if wide := eval[int](t, ctx, `document.documentElement.scrollWidth`); wide > size.w {
					t.Errorf("%s: page %d px wide on a %d px screen", where, wide, size.w)
				}
				if out := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('main *')).filter(e => {
					const r = e.getBoundingClientRect(); return r.width > 0 && (r.left < -1 || r.right > innerWidth + 1);
				}).map(e => e.tagName + '.' + e.className)`); len(out) > 0 {
					t.Errorf("%s: wider than the screen: %v", where, out)
				}
			}
			do(t, ctx, 30*time.Second,
				chromedp.Navigate(e.base+"/console/w/"+boxA),
				chromedp.WaitVisible(chromedp.CSS("#name")),
				chromedp.SendKeys(chromedp.CSS("#name"), "sw-a"),
				chromedp.SendKeys(chromedp.CSS("#password"), password),
				chromedp.Click(chromedp.CSS("#login")),
				chromedp.WaitVisible(chromedp.CSS("#newtotal")),
				chromedp.Navigate(e.base+"/console/w/"+boxA),
				chromedp.WaitVisible(chromedp.CSS("#practices")),
			)
			eval[bool](t, ctx, `(document.querySelector('#ready').scrollIntoView(), true)`)
			shot(t, ctx, size.name+"-woman-practices")
			noSideways("her page")
			her := eval[string](t, ctx, `document.querySelector('main').innerText`)
			for _, want := range []string{"📺 直播 1 场", "🎓 练习（不算直播）", "💬 按时回答", "🃏 卡片对", "⚠️ 每分钟提醒", "🤐 冷场", "🗣️ 每分钟"} {
				if !strings.Contains(her, want) {
					t.Errorf("her page lacks %q", want)
				}
			}
			do(t, ctx, 30*time.Second,
				chromedp.Click(chromedp.CSS(`a.prow[href$="`+id+`"]`)),
				chromedp.WaitVisible(chromedp.CSS("#questions")),
			)
			noSideways("the practice page")
			pg := eval[string](t, ctx, `document.querySelector('main').innerText`)
			for _, want := range []string{"阿英：辣椒酱多少钱一瓶？", "✅ 第 0:12 回答了", "王姐：是不是全网最便宜？", "老张：蜂蜜能治高血压吗？",
				"诱导她说：绝对化用语", "诱导她说：疾病治疗功效"} {
				if !strings.Contains(pg, want) {
					t.Errorf("the practice page lacks %q", want)
				}
			}
			// The scenario's rule codes are for the file, not the page.
			for _, code := range []string{"ABS", "MED", "OFFPLAT"} {
				if strings.Contains(pg, code) {
					t.Errorf("the practice page shows the code %s:\n%s", code, pg)
				}
			}
			// Score it: big enough to tap on a phone.
			if h := eval[float64](t, ctx, `document.querySelector('#step-present label.level').getBoundingClientRect().height`); h < 40 {
				t.Errorf("a score to tap is %.0f px high", h)
			}
			do(t, ctx, 30*time.Second,
				chromedp.Click(chromedp.CSS(`#step-present input[value="3"]`)),
				chromedp.Click(chromedp.CSS(`#step-answer input[value="2"]`)),
				chromedp.Click(chromedp.CSS(`#step-orders input[value="1"]`)),
				chromedp.Click(chromedp.CSS(`#step-rules input[value="1"]`)),
				chromedp.SendKeys(chromedp.CSS("#comment"), "辣椒酱价格说得清楚；不要说“全网最低价”。"),
				chromedp.Click(chromedp.CSS("#save-assess")),
				chromedp.WaitVisible(chromedp.CSS("#history")),
			)
			shot(t, ctx, size.name+"-practice-assessed")
			noSideways("the practice page after scoring")
			got := eval[string](t, ctx, `document.querySelector('#history').innerText`)
			for _, want := range []string{"7/12", "介绍商品：做得好", "回答问题：基本做到", "守规矩（不说违规的话）：未做到", "不要说“全网最低价”"} {
				if !strings.Contains(got, want) {
					t.Errorf("the scoring shown lacks %q: %q", want, got)
				}
			}
			// Her page: the score, and she is marked ready.
			do(t, ctx, 30*time.Second,
				chromedp.Click(chromedp.CSS("#back")),
				chromedp.WaitVisible(chromedp.CSS("#scorechart")),
				chromedp.Click(chromedp.CSS("#ready-set")),
				chromedp.WaitVisible(chromedp.CSS("#ready-clear")),
			)
			noSideways("her page, ready")
			eval[bool](t, ctx, `(document.querySelector('#ready').scrollIntoView(), true)`)
			shot(t, ctx, size.name+"-woman-ready")
			if got := eval[string](t, ctx, `document.querySelector('#ready').innerText`); !strings.Contains(got, "可以正式直播了") || !strings.Contains(got, "sw-a") {
				t.Errorf("the ready mark shows %q", got)
			}
			if got := eval[string](t, ctx, `document.querySelector('#practices').innerText`); !strings.Contains(got, "评分 7/12") {
				t.Errorf("her practices show %q", got)
			}
			// Clear it again for the next size.
			do(t, ctx, 30*time.Second, chromedp.Click(chromedp.CSS("#ready-clear")), chromedp.WaitVisible(chromedp.CSS("#ready-set")))
		})
	}
}
