package app_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/firmware/state"
)

// A practice from the phone page, in Chromium at 360×640 with touch: 练习
// starts it with its banner; the default scenario's customers appear while
// the preview plays; the configured nginx-rtmp never gets the stream;
// holding the big button ends it and her report appears (this box has no
// speech model, so the report says what could not be checked).
func TestPracticeInChromium(t *testing.T) {
	b := startBox(t)
	phone := chromium(t)
	do(t, phone, 10*time.Second,
		chromedp.EmulateViewport(360, 640, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	do(t, phone, 30*time.Second,
		chromedp.Navigate(b.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pin")),
		chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#app")),
		poll(`document.getElementById('state-label').textContent === '未开播'`),
		chromedp.WaitVisible(chromedp.CSS("#btn-practice")),
	)
	tap := func(css string) {
		p := center(t, phone, css)
		touchAt(t, phone, input.DispatchTouchEventTypeTouchStart, p)
		time.Sleep(80 * time.Millisecond)
		touchAt(t, phone, input.DispatchTouchEventTypeTouchEnd, p)
	}
	tap("#btn-practice")
	do(t, phone, 20*time.Second,
		poll(`document.getElementById('state-label').textContent.includes('练习中')`),
		chromedp.WaitVisible(chromedp.CSS("#practice-banner")),
	)
	if st := b.app.Box.Status().State; st != state.Practice {
		t.Fatalf("box %s after 练习", st)
	}
	if got := text(t, phone, "#practice-banner"); !strings.Contains(got, "观众看不到") {
		t.Errorf("banner %q", got)
	}
	// The state box beside the preview is narrow: its words stay on one
	// line rather than breaking mid-word (练习中 · 观 / 众看不到).
	if lines := eval[float64](t, phone, `(() => { const e = document.getElementById('state-label');
	  return e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight); })()`); lines > 1.5 {
		t.Errorf("the state label %q takes %.1f lines at 360 px", text(t, phone, "#state-label"), lines)
	}
	// Icons come from the colour emoji font, not from a text font that
	// happens to hold the code point (DejaVu Sans draws 🌑 关灯 as a white
	// disc and ⚪ as an outline).
	for _, css := range []string{"#state-icon", "#btn-light-off i", "#btn-prev i"} {
		if fonts := platformFonts(t, phone, css); len(fonts) != 1 || fonts[0] != "Noto Color Emoji" {
			t.Errorf("%s drawn with %q, want Noto Color Emoji", css, fonts)
		}
	}
	// The greeting comes 3 s in, 阿英's question 5 s after the first card.
	do(t, phone, 30*time.Second,
		poll(`document.getElementById('practice-list').textContent.includes('辣椒酱多少钱一瓶')`))
	list := text(t, phone, "#practice-list")
	for _, want := range []string{"山里人", "主播好", "阿英", "30秒内回答"} {
		if !strings.Contains(list, want) {
			t.Errorf("comments %q lack %q", list, want)
		}
	}
	do(t, phone, 30*time.Second, poll(playbackJS+`.width > 0 && `+playbackJS+`.frames > 0`))
	p1 := eval[playback](t, phone, playbackJS)
	time.Sleep(time.Second)
	if p2 := eval[playback](t, phone, playbackJS); p2.Frames-p1.Frames < 5 {
		t.Errorf("preview frames %d → %d in 1 s during the practice", p1.Frames, p2.Frames)
	}
	// The newest question is on her screen, in large type, also once
	// older ones pile up (小李 asks third, 20 s in).
	type box struct{ Top, Bottom, Font float64 }
	newest := func(want string) {
		t.Helper()
		do(t, phone, 40*time.Second, poll(`document.getElementById('practice-list').textContent.includes('`+want+`')`))
		c := eval[box](t, phone, `(() => { const li = document.querySelector('#practice-list li:last-child');
		  const r = li.getBoundingClientRect(); return {Top: r.top, Bottom: r.bottom, Font: parseFloat(getComputedStyle(li).fontSize)}; })()`)
		if got := text(t, phone, "#practice-list li:last-child"); !strings.Contains(got, want) {
			t.Fatalf("newest comment %q, want %q", got, want)
		}
		if c.Top < 0 || c.Bottom > 640 || c.Font < 20 {
			t.Errorf("newest comment (%s) at %+v: want on a 360×640 screen, type ≥ 20 px", want, c)
		}
	}
	newest("辣椒酱多少钱一瓶")
	newest("辣不辣")
	if _, err := os.Stat(b.ngx.RecordingPath("box")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nginx-rtmp has a recording during a practice: %v", err)
	}

	// Held 3.5 s by touch: the practice ends and the report appears.
	press(t, phone, "#btn-big", true, 3500*time.Millisecond)
	do(t, phone, 45*time.Second,
		poll(`document.getElementById('state-label').textContent === '未开播'`),
		chromedp.WaitVisible(chromedp.CSS("#practice-report")),
	)
	report := text(t, phone, "#practice-report")
	for _, want := range []string{"做得好的", "没有听写", "知道了"} {
		if !strings.Contains(report, want) {
			t.Errorf("report %q lacks %q", report, want)
		}
	}
	if n := eval[int](t, phone, `document.querySelectorAll('#report-good li').length`); n < 1 || n > 3 {
		t.Errorf("%d good points, want 1 to 3", n)
	}
	font := eval[float64](t, phone, `parseFloat(getComputedStyle(document.querySelector('#report-good li')).fontSize)`)
	if font < 22 {
		t.Errorf("report type %.0f px, want ≥ 22", font)
	}
	if png, err := chromedp.Run(phone, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile("/tmp/cunbo-practice-report-360x640.png", png, 0o644)
	}
	tap("#report-ok")
	do(t, phone, 10*time.Second, poll(`document.getElementById('practice-report').hidden`))
	if _, err := os.Stat(b.ngx.RecordingPath("box")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nginx-rtmp has a recording after a practice: %v", err)
	}
}

// platformFonts are the fonts Chromium drew the element's text with.
func platformFonts(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The node comes from chromedp's own view of the DOM: a second
	// DOM.getDocument would renumber the nodes under chromedp's feet.
	ids, err := chromedp.Run(c, chromedp.QueryNodeIDs(chromedp.CSS(sel)))
	if err == nil {
		_, err = chromedp.Call(c, css.Enable, cdp.Empty{})
	}
	var f css.GetPlatformFontsForNodeResult
	if err == nil {
		f, err = chromedp.Call(c, css.GetPlatformFontsForNode, css.GetPlatformFontsForNodeParams{NodeID: ids[0]})
	}
	if err != nil {
		t.Fatalf("chromium: fonts of %s: %v", sel, err)
	}
	var names []string
	for _, u := range f.Fonts {
		names = append(names, u.FamilyName)
	}
	return names
}
