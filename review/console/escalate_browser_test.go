package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/review/store"
)

// On a phone, 王芳 hands a moment to 李梅 with a typed reason (whose
// letters must not fire the page's shortcut keys); 李梅 finds it first in
// her queue, marked.
func TestEscalateInChromium(t *testing.T) {
	e := newEnv(t)
	e.addUser("王芳", store.RoleSocial)
	e.addUser("李梅", store.RoleSocial)
	boxA := e.addBox("雷山 村A 杨阿姨", "王芳")
	e.addBox("雷山 村B", "李梅")
	mp4 := clip(t, 2)
	now := time.Now().UTC().Truncate(time.Second)
	idA, tarA := segmentTar(t, 1, now.Add(-3*time.Hour), mp4)
	e.upload("雷山 村A 杨阿姨", idA, tarA)
	idB, tarB := segmentTar(t, 2, now.Add(-time.Hour), mp4)
	e.upload("雷山 村B", idB, tarB)

	signIn := func(b context.Context, name string) {
		t.Helper()
		do(t, b, 30*time.Second,
			chromedp.Navigate(e.base+"/console/login"),
			chromedp.WaitVisible(chromedp.CSS("#name")),
			chromedp.SendKeys(chromedp.CSS("#name"), name),
			chromedp.SendKeys(chromedp.CSS("#password"), password),
			chromedp.Click(chromedp.CSS("#login")),
		)
		waitFor(t, b, 30*time.Second, `location.pathname === '/console/' && document.readyState === 'complete'`)
	}
	b := chromium(t, 360, 640)
	signIn(b, "王芳")
	// The reason holds r, f, u and s: the shortcuts of real, false alarm,
	// undo and skip.
	reason := "refus 她说的是药效"
	do(t, b, 30*time.Second,
		chromedp.Navigate(e.base+"/console/m/"+boxA+"/"+idA),
		chromedp.WaitVisible(chromedp.CSS("#btn-real")),
		// Opened by keyboard: space on the focused summary opens it (it
		// must not play the clip instead).
		chromedp.ScrollIntoView(chromedp.CSS(".escbox summary")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('.escbox summary').focus()`),
		poll(`document.activeElement === document.querySelector('.escbox summary')`),
		chromedp.KeyEvent(" "),
		chromedp.WaitVisible(chromedp.CSS("#esc-reason")),
		chromedp.SetValue(chromedp.CSS("#esc-to"), "李梅"),
		chromedp.SendKeys(chromedp.CSS("#esc-reason"), reason),
	)
	shot(t, b, "phone-escalate")
	if eval[bool](t, b, `!document.getElementById('clip').paused`) {
		t.Errorf("space on the summary played the clip")
	}
	if st, _ := e.st.State(context.Background(), store.SegmentRef{BoxID: boxA, ID: idA}); st != store.StateNew {
		t.Fatalf("typing the reason decided the moment: %q", st)
	}
	do(t, b, 30*time.Second, chromedp.Click(chromedp.CSS("#send-esc")))
	waitFor(t, b, 30*time.Second, `location.search === '?msg=escalated' && !!document.getElementById('esc-mark')`)
	if got := eval[string](t, b, `document.getElementById('esc-mark').innerText`); !strings.Contains(got, "已转给 李梅") || !strings.Contains(got, reason) {
		t.Errorf("王芳's mark: %q", got)
	}

	b2 := chromium(t, 360, 640)
	signIn(b2, "李梅")
	first := eval[string](t, b2, `document.querySelector('#new a.row').innerText`)
	if !strings.Contains(first, "同事转来") || !strings.Contains(first, "王芳") || !strings.Contains(first, reason) || !strings.Contains(first, "雷山 村A 杨阿姨") {
		t.Errorf("李梅's first row: %q", first)
	}
	shot(t, b2, "phone-escalated-queue")
	if sw := eval[int](t, b2, `document.documentElement.scrollWidth`); sw > 360 {
		t.Errorf("李梅's queue is %d px wide", sw)
	}
}
