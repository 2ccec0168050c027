package app_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/segment"
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
	// Three customers and a warning: all she needs still fits her screen,
	// at this size and on a taller phone.
	b.app.Web.PublishWarning(practiceWarning)
	practiceScreen(t, phone, 360, 640, tap)
	practiceScreen(t, phone, 412, 915, tap)
	do(t, phone, 10*time.Second,
		chromedp.EmulateViewport(360, 640, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	if _, err := os.Stat(b.ngx.RecordingPath("box")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nginx-rtmp has a recording during a practice: %v", err)
	}
	// Nothing is published, so the footer must not name a destination.
	if got := text(t, phone, "#destination"); strings.Contains(got, "rtmp") || !strings.Contains(got, "练习不推流") {
		t.Errorf("footer during a practice says %q", got)
	}

	// A tap is not enough to end it, and the page says how in the
	// practice's words (she is not live: 下播 would be wrong).
	tap("#btn-big")
	do(t, phone, 10*time.Second, poll(`!document.getElementById('toast').hidden`))
	if got := text(t, phone, "#toast"); !strings.Contains(got, "结束练习") || strings.Contains(got, "下播") {
		t.Errorf("a tap on the big button during a practice says %q", got)
	}
	if st := b.app.Box.Status().State; st != state.Practice {
		t.Fatalf("a tap during the practice made the box %s", st)
	}

	// Held 3.5 s by touch: the practice ends and the report appears.
	press(t, phone, "#btn-big", true, 3500*time.Millisecond)
	do(t, phone, 45*time.Second,
		poll(`document.getElementById('state-label').textContent === '未开播'`),
		chromedp.WaitVisible(chromedp.CSS("#practice-report")),
	)
	// The short press's hint is gone: it covered the report's first lines.
	if eval[bool](t, phone, `!document.getElementById('toast').hidden`) {
		t.Errorf("the hint %q still covers the report", text(t, phone, "#toast"))
	}
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

// practiceWarning is a warning as the box shows one during a practice.
var practiceWarning = web.WarningCard{Said: "今天的辣椒酱全网最低价，大家快来买", Match: "全网最低价", Category: "PRICE",
	CategoryName: "价格用语", Explain: "“最低价”没法证明，属于绝对化用语", Why: "说“最”“第一”没法证明，平台不让说",
	Suggest: "价格很实惠，很多老顾客回购", Law: "《广告法》第九条"}

// practiceScreen checks her phone during a practice at w×h, after a few
// customers and a warning: the 练习中 banner, a usable part of the
// preview, the newest question and the newest warning are on the first
// screen without scrolling, nothing scrolls sideways, the older questions
// fold behind 还有 N 条 (it unfolds them and folds them again), and every
// button is at least 48 px each way.
func practiceScreen(t *testing.T, phone context.Context, w, h int64, tap func(string)) {
	t.Helper()
	do(t, phone, 10*time.Second,
		chromedp.EmulateViewport(w, h, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	do(t, phone, 10*time.Second, chromedp.WaitVisible(chromedp.CSS("#warnings li")))
	do(t, phone, 10*time.Second, poll(`document.querySelectorAll('#practice-list li').length >= 3`))
	time.Sleep(2500 * time.Millisecond) // the warning's flash, and a poll of the questions after the resize
	type rect struct{ Top, Bottom, Left, Right, Width, Height float64 }
	type screen struct {
		ScrollY, ViewW, ViewH            float64
		Wide                             bool
		Banner, Preview, Newest, Warning rect
		NewestFont                       float64
		Comments, Shown                  int
		Toggle                           string
		Small                            []string
	}
	js := `(() => {
	  const r = (e) => { const b = e.getBoundingClientRect();
	    return {Top: b.top, Bottom: b.bottom, Left: b.left, Right: b.right, Width: b.width, Height: b.height}; };
	  const lis = [...document.querySelectorAll('#practice-list li')];
	  const newest = lis[lis.length - 1];
	  const small = [...document.querySelectorAll('#buttons button, #comments-toggle')]
	    .filter((b) => b.offsetParent !== null)
	    .filter((b) => { const x = b.getBoundingClientRect(); return x.width < 48 || x.height < 48; })
	    .map((b) => b.id + ' ' + b.getBoundingClientRect().width + '×' + b.getBoundingClientRect().height);
	  return {ScrollY: scrollY, ViewW: innerWidth, ViewH: innerHeight,
	    Wide: document.documentElement.scrollWidth > innerWidth,
	    Banner: r(document.getElementById('practice-banner')), Preview: r(document.getElementById('preview-box')),
	    Newest: r(newest), NewestFont: parseFloat(getComputedStyle(newest).fontSize),
	    Warning: r(document.querySelector('#warnings li')),
	    Comments: lis.length, Shown: lis.filter((li) => li.offsetParent !== null).length,
	    Toggle: (document.getElementById('comments-toggle') || {}).textContent || '', Small: small}; })()`
	s := eval[screen](t, phone, js)
	if png, err := chromedp.Run(phone, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile(fmt.Sprintf("/tmp/cunbo-practice-%dx%d.png", w, h), png, 0o644)
	}
	t.Logf("%d×%d: %+v", w, h, s)
	on := func(what string, x rect) {
		t.Helper()
		if x.Height == 0 || x.Top < 0 || x.Bottom > s.ViewH || x.Left < 0 || x.Right > s.ViewW {
			t.Errorf("%d×%d: %s at %+v, want it on the first screen (%v×%v)", w, h, what, x, s.ViewW, s.ViewH)
		}
	}
	if s.ScrollY != 0 {
		t.Errorf("%d×%d: the page scrolled by %v px", w, h, s.ScrollY)
	}
	on("the 练习中 banner", s.Banner)
	on("the newest question", s.Newest)
	on("the newest warning", s.Warning)
	if seen := min(s.Preview.Bottom, s.ViewH) - max(s.Preview.Top, 0); seen < 100 {
		t.Errorf("%d×%d: %v px of the preview on screen (%+v), want ≥ 100", w, h, seen, s.Preview)
	}
	if s.NewestFont < 20 {
		t.Errorf("%d×%d: the newest question in %v px type, want ≥ 20", w, h, s.NewestFont)
	}
	if s.Wide {
		t.Errorf("%d×%d: the page scrolls sideways", w, h)
	}
	if len(s.Small) > 0 {
		t.Errorf("%d×%d: buttons under 48 px: %v", w, h, s.Small)
	}
	// The newest one (two on a tall phone) shows, the rest fold.
	shown := 1
	if h >= 800 {
		shown = 2
	}
	if want := fmt.Sprintf("▼还有%d条", s.Comments-shown); s.Shown != shown || s.Toggle != want {
		t.Errorf("%d×%d: %d of %d questions shown, toggle %q; want %d and %q", w, h, s.Shown, s.Comments, s.Toggle, shown, want)
	}
	if h < 800 {
		return
	}
	tap("#comments-toggle")
	do(t, phone, 10*time.Second, poll(`[...document.querySelectorAll('#practice-list li')].every((li) => li.offsetParent !== null) &&
	  document.getElementById('comments-toggle').textContent === '▲收起'`))
	tap("#comments-toggle")
	do(t, phone, 10*time.Second, poll(`document.getElementById('comments-toggle').textContent.startsWith('▼还有')`))
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

// She picks the lesson to practise, in Chromium with touch: with three
// scenarios published, 🎓 练习 shows them as big buttons (icon, name,
// questions, products) with 随便来一个 and 不练了, fitting 412×915 and
// 360×640 without sideways scrolling; 不练了 starts nothing; she taps the
// second (not the one next in turn), its customer asks, the first's never
// does, and the session record at the review service names it.
func TestPracticeChoiceInChromium(t *testing.T) {
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	review := httptest.NewServer(srv.Handler())
	t.Cleanup(review.Close)

	log := testLogger(t)
	stateDir := t.TempDir()
	prov := applyScenarios(t, stateDir, map[string][]byte{
		"01 辣椒酱.txt": []byte("scenario 🌶️ 卖辣椒酱\nversion 1\n" +
			"1 | 阿英 | lajiao | 30 | - | 辣椒酱多少钱一瓶？ | 三十九块九一瓶\n"),
		"02 蜂蜜.txt": []byte("scenario 🍯 卖蜂蜜\nversion 1\n" +
			"1 | 老张 | fengmi | 40 | MED | 蜂蜜能治高血压吗？ | 蜂蜜是食品，不能治病\n" +
			"2 | 贵阳妹 | fengmi | 30 | - | 发货到广东要几天？\n" +
			"3 | 阿英 | lajiao | 30 | - | 辣椒酱也有吗？\n"),
		"03 微信.txt": []byte("scenario 别人要加微信\nversion 1\n" +
			"1 | 路人甲 | - | 30 | OFFPLAT | 加个微信吧，私下买便宜点\n"),
	}, log)
	key, err := upload.LoadOrCreateKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	boxID, err := boxauth.Enroll(ctx, srv.Store(), key.Public().(ed25519.PublicKey), "榕江 阿英", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Now()
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(true), Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := app.Build(app.Spec{
		Pipeline:      pipeline.Config{Video: video, Audio: audio, Portrait: true, VideoKbps: 800, Epoch: epoch},
		DemoCatalogue: true, StateDir: stateDir, ReviewURL: review.URL, DeviceID: "sim",
		Panel: app.VirtualPanel(), HTTPAddr: "127.0.0.1:0", PIN: testPIN, Preview: whepLoopback(), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	prov.ReadyWithin = 60 * time.Second
	opts.Provision = prov
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	base := runApp(t, a)

	phone := chromium(t)
	tap := func(css string) {
		t.Helper()
		p := center(t, phone, css)
		touchAt(t, phone, input.DispatchTouchEventTypeTouchStart, p)
		time.Sleep(80 * time.Millisecond)
		touchAt(t, phone, input.DispatchTouchEventTypeTouchEnd, p)
	}
	type button struct {
		Text                     string
		Top, Bottom, Left, Right float64
		Height, Font             float64
	}
	type layout struct {
		Buttons           []button
		Focused           string
		PageWide, DlgWide bool
		ViewW, ViewH      float64
	}
	choose := func(w, h int64) {
		t.Helper()
		do(t, phone, 10*time.Second,
			chromedp.EmulateViewport(w, h, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
		tap("#btn-practice")
		do(t, phone, 15*time.Second, poll(`document.getElementById('practice-choose').open &&
		  document.querySelectorAll('#choose-list button').length === 3`))
		l := eval[layout](t, phone, `(() => {
		  const d = document.getElementById('practice-choose');
		  const bs = [...d.querySelectorAll('button')].map((b) => { const r = b.getBoundingClientRect();
		    const n = b.querySelector('b');
		    return {Text: b.textContent, Top: r.top, Bottom: r.bottom, Left: r.left, Right: r.right, Height: r.height,
		      Font: parseFloat(getComputedStyle(n || b).fontSize)}; });
		  return {Buttons: bs, Focused: document.activeElement.textContent,
		    PageWide: document.documentElement.scrollWidth > innerWidth, DlgWide: d.scrollWidth > d.clientWidth,
		    ViewW: innerWidth, ViewH: innerHeight}; })()`)
		if len(l.Buttons) != 5 {
			t.Fatalf("%d×%d: %d buttons in the list, want 3 lessons, 随便来一个, 不练了: %+v", w, h, len(l.Buttons), l.Buttons)
		}
		for i, want := range []string{"🌶️卖辣椒酱 · 1 个问题🛍️ 榕江古法辣椒酱", "🍯卖蜂蜜 · 3 个问题🛍️ 野生蜂蜜、榕江古法辣椒酱",
			"3️⃣别人要加微信 · 1 个问题", "🎲随便来一个", "✖️不练了"} {
			if l.Buttons[i].Text != want {
				t.Errorf("%d×%d: button %d says %q, want %q", w, h, i+1, l.Buttons[i].Text, want)
			}
		}
		for _, b := range l.Buttons {
			if b.Height < 48 || b.Font < 20 || b.Left < 0 || b.Right > l.ViewW || b.Top < 0 || b.Bottom > l.ViewH {
				t.Errorf("%d×%d: %q at %+v: want ≥ 48 px high, type ≥ 20 px, on the first screen", w, h, b.Text, b)
			}
		}
		if l.PageWide || l.DlgWide {
			t.Errorf("%d×%d: scrolls sideways (page %v, list %v)", w, h, l.PageWide, l.DlgWide)
		}
		if l.Focused != l.Buttons[0].Text {
			t.Errorf("%d×%d: focus on %q, want the first lesson (keyboard, screen reader)", w, h, l.Focused)
		}
		if png, err := chromedp.Run(phone, chromedp.CaptureScreenshot()); err == nil {
			_ = os.WriteFile(fmt.Sprintf("/tmp/cunbo-practice-choose-%dx%d.png", w, h), png, 0o644)
		}
	}

	do(t, phone, 10*time.Second,
		chromedp.EmulateViewport(412, 915, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	do(t, phone, 30*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pin")),
		chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#app")),
		poll(`document.getElementById('state-label').textContent === '未开播'`),
		chromedp.WaitVisible(chromedp.CSS("#btn-practice")),
	)
	choose(412, 915)
	tap("#choose-cancel")
	do(t, phone, 10*time.Second, poll(`!document.getElementById('practice-choose').open`))
	time.Sleep(500 * time.Millisecond)
	if st := a.Box.Status().State; st != state.Idle {
		t.Fatalf("box %s after 不练了", st)
	}

	choose(360, 640)
	tap("#choose-list li:nth-child(2) button")
	do(t, phone, 20*time.Second,
		poll(`document.getElementById('state-label').textContent.includes('练习中')`),
		poll(`!document.getElementById('practice-choose').open`),
		poll(`document.getElementById('practice-list').textContent.includes('辣椒酱也有吗')`),
	)
	list := text(t, phone, "#practice-list")
	a.Web.PublishWarning(practiceWarning)
	practiceScreen(t, phone, 360, 640, tap)
	practiceScreen(t, phone, 412, 915, tap)
	for _, want := range []string{"老张", "蜂蜜能治高血压吗", "贵阳妹"} {
		if !strings.Contains(list, want) {
			t.Errorf("comments %q lack %q", list, want)
		}
	}
	if strings.Contains(list, "辣椒酱多少钱一瓶") {
		t.Errorf("the first lesson's question came up in the second: %q", list)
	}
	if png, err := chromedp.Run(phone, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile("/tmp/cunbo-practice-chosen-360x640.png", png, 0o644)
	}

	press(t, phone, "#btn-big", true, 3500*time.Millisecond)
	do(t, phone, 45*time.Second, poll(`document.getElementById('state-label').textContent === '未开播'`))
	var rec *segment.Session
	waitUntil(t, 60*time.Second, "the practice's session record at the review service", func() bool {
		ss, err := srv.Store().BoxSessions(ctx, boxID, 10)
		if err != nil || len(ss) == 0 {
			return false
		}
		rec, err = segment.ParseSession(ss[0].Record)
		return err == nil
	})
	if rec.Kind != segment.KindPractice || rec.Checks == nil || rec.Checks.Scenario != "🍯 卖蜂蜜" {
		t.Errorf("record kind %q checks %+v, want the practice of 🍯 卖蜂蜜", rec.Kind, rec.Checks)
	}
	// Her social worker reads the products' names, not catalogue ids.
	if rec.Checks != nil && (rec.Checks.Name("fengmi") != "野生蜂蜜" || rec.Checks.Name("lajiao") != "榕江古法辣椒酱") {
		t.Errorf("record names %v, want the catalogue's names of fengmi and lajiao", rec.Checks.Names)
	}
}
