package app_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/lint"
)

// The phone page's own tests run the real box (state machine, LED, ring
// light) and the real web server against headless Chromium with touch
// emulation at phone sizes. Only the media pipeline is a counting
// stand-in: these tests are about her thumb, and they count what each
// gesture made the box do.

// phoneSizes are the smallest phone the page is laid out for and a
// common Android one.
var phoneSizes = []struct{ w, h int64 }{{360, 640}, {412, 915}}

// deskPipeline counts the box's calls. GoLive succeeds at once; End takes
// a moment like the publishers' polite close, so the page shows 正在下播
// (its big button disabled) while her finger is still on it.
type deskPipeline struct {
	mu      sync.Mutex
	calls   map[string]int
	card    int
	visible bool
}

var deskCards = []string{"雷山蜂蜜", "榕江腊肉", "侗家辣椒酱"}

func (p *deskPipeline) count(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[name]++
}
func (p *deskPipeline) GoLive(context.Context) error { p.count("golive"); return nil }
func (p *deskPipeline) End() error {
	p.count("end")
	time.Sleep(1500 * time.Millisecond)
	return nil
}
func (p *deskPipeline) Mark() error { p.count("mark"); return nil }
func (p *deskPipeline) NextCard() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls["next"]++
	p.card, p.visible = (p.card+1)%len(deskCards), true
	return nil
}
func (p *deskPipeline) PrevCard() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls["prev"]++
	p.card, p.visible = (p.card+len(deskCards)-1)%len(deskCards), true
	return nil
}
func (p *deskPipeline) HideCard() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls["hide"]++
	p.visible = false
	return nil
}
func (p *deskPipeline) n(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[name]
}
func (p *deskPipeline) webCard() *web.Card {
	p.mu.Lock()
	defer p.mu.Unlock()
	return &web.Card{Index: p.card, Name: deskCards[p.card], Visible: p.visible}
}

// countingBox is the real box, counting the events the page posts.
type countingBox struct {
	*firmware.Box
	mu    sync.Mutex
	posts map[state.Event]int
}

func (b *countingBox) Post(ev state.Event, detail string) error {
	b.mu.Lock()
	b.posts[ev]++
	b.mu.Unlock()
	return b.Box.Post(ev, detail)
}

func (b *countingBox) n(ev state.Event) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.posts[ev]
}

type phone struct {
	ctx context.Context
	srv *web.Server
	box *countingBox
	pl  *deskPipeline
}

// pageProbe records what the page asks of the phone's vibration motor,
// whether it ever makes a sound (it must not: her microphone would carry it
// into the broadcast), and script errors and CSP violations. It runs
// before the page's own script.
const pageProbe = `(() => {
  window.__vibrations = 0; window.__sounds = 0; window.__errors = [];
  addEventListener('error', (e) => window.__errors.push(String(e.message)));
  addEventListener('unhandledrejection', (e) => window.__errors.push('rejection: ' + String(e.reason)));
  document.addEventListener('securitypolicyviolation', (e) => window.__errors.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));
  Object.defineProperty(navigator, 'vibrate', {configurable: true, value: () => { window.__vibrations++; return true; }});
  for (const name of ['AudioContext', 'webkitAudioContext']) {
    if (window[name]) { const C = window[name]; window[name] = function(...a) { window.__sounds++; return new C(...a); }; }
  }
  const A = window.Audio;
  window.Audio = function(...a) { window.__sounds++; return new A(...a); };
})()`

// openPhone serves the page from a real box and logs in from Chromium
// emulating a w×h phone (touch or mouse).
func openPhone(t *testing.T, w, h int64, touch bool, problems []web.SetupProblem) *phone {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	v := hw.NewVirtual(nil)
	pl := &deskPipeline{calls: map[string]int{}, visible: true}
	fb, err := firmware.NewBox(firmware.Options{Pipeline: pl, LED: v.LED, Ring: v.Ring, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = fb.Run(ctx) }()
	box := &countingBox{Box: fb, posts: map[state.Event]int{}}
	srv, err := web.New(web.Options{Box: box, PIN: testPIN, StatusInterval: 200 * time.Millisecond,
		Logger: testLogger(t),
		Details: func() web.Details {
			return web.Details{Destination: "rtmp://live.example.com/app/" + web.MaskKey("k3y-1234"),
				Card: pl.webCard(), Captions: web.Captions{On: true}, Problems: problems}
		}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); cancel(); <-done })

	bctx := chromium(t)
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait, chromedp.EmulateMobile}
	if touch {
		opts = append(opts, chromedp.EmulateTouch)
	}
	if _, err := chromedp.Call(bctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: pageProbe}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	do(t, bctx, 20*time.Second,
		chromedp.EmulateViewport(w, h, opts...),
		chromedp.Navigate(hs.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pin")),
		chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#app")),
		poll(`document.getElementById('state-label').textContent === '未开播'`),
	)
	if got := eval[float64](t, bctx, `innerWidth`); got != float64(w) {
		t.Fatalf("viewport %v px wide, want %d", got, w)
	}
	return &phone{ctx: bctx, srv: srv, box: box, pl: pl}
}

type point struct{ X, Y float64 }

// center is the middle of the element on screen now (no scrolling).
func center(t testing.TB, ctx context.Context, css string) point {
	t.Helper()
	return eval[point](t, ctx, `(() => { const r = document.querySelector(`+"`"+css+"`"+`).getBoundingClientRect();
	  return {X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`)
}

func touchAt(t testing.TB, ctx context.Context, typ input.DispatchTouchEventType, p point) {
	t.Helper()
	params := input.DispatchTouchEventParams{Type: typ, TouchPoints: []*input.TouchPoint{}}
	if typ != input.DispatchTouchEventTypeTouchEnd {
		id := 1.0
		params.TouchPoints = []*input.TouchPoint{{X: p.X, Y: p.Y, ID: &id}}
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(c, input.DispatchTouchEvent, params); err != nil {
		t.Fatalf("chromium: touch %s: %v", typ, err)
	}
}

// press puts a finger (or the mouse's left button) on the element, keeps
// it there for hold and lifts it, as her thumb would.
func press(t testing.TB, ctx context.Context, css string, touch bool, hold time.Duration) {
	t.Helper()
	p := center(t, ctx, css)
	if touch {
		touchAt(t, ctx, input.DispatchTouchEventTypeTouchStart, p)
		time.Sleep(hold)
		touchAt(t, ctx, input.DispatchTouchEventTypeTouchEnd, p)
		return
	}
	do(t, ctx, 10*time.Second,
		chromedp.MouseEvent(chromedp.MouseMoved, p.X, p.Y),
		chromedp.MouseEvent(chromedp.MousePressed, p.X, p.Y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	time.Sleep(hold)
	do(t, ctx, 10*time.Second,
		chromedp.MouseEvent(chromedp.MouseReleased, p.X, p.Y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
}

// slideOff puts a finger (or the mouse) on the element, slides it well
// off, keeps it there for hold and lifts it.
func slideOff(t testing.TB, ctx context.Context, css string, touch bool, hold time.Duration) {
	t.Helper()
	p := center(t, ctx, css)
	off := point{p.X, p.Y + 150}
	if touch {
		touchAt(t, ctx, input.DispatchTouchEventTypeTouchStart, p)
		for dy := 30.0; dy <= 150; dy += 30 {
			touchAt(t, ctx, input.DispatchTouchEventTypeTouchMove, point{p.X, p.Y + dy})
		}
		time.Sleep(hold)
		touchAt(t, ctx, input.DispatchTouchEventTypeTouchEnd, off)
		return
	}
	do(t, ctx, 10*time.Second,
		chromedp.MouseEvent(chromedp.MouseMoved, p.X, p.Y),
		chromedp.MouseEvent(chromedp.MousePressed, p.X, p.Y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		chromedp.MouseEvent(chromedp.MouseMoved, off.X, off.Y, chromedp.ButtonLeft))
	time.Sleep(hold)
	do(t, ctx, 10*time.Second,
		chromedp.MouseEvent(chromedp.MouseReleased, off.X, off.Y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
}

func tap(t testing.TB, ctx context.Context, css string, touch bool) {
	t.Helper()
	press(t, ctx, css, touch, 80*time.Millisecond)
}

// waitBox waits for the box to reach want.
func waitBox(t *testing.T, b *countingBox, want state.State, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for b.Status().State != want {
		if time.Now().After(deadline) {
			t.Fatalf("box %s, want %s", b.Status().State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Issue 12, item 1: holding 下播 ends the live, and lifting the finger (or
// the mouse button) after the hold does not start it again. A tap on 开播
// goes live exactly once.
func TestBigButtonGesturesInChromium(t *testing.T) {
	for _, size := range phoneSizes {
		for _, touch := range []bool{true, false} {
			kind := map[bool]string{true: "touch", false: "mouse"}[touch]
			t.Run(fmt.Sprintf("%dx%d/%s", size.w, size.h, kind), func(t *testing.T) {
				p := openPhone(t, size.w, size.h, touch, nil)

				tap(t, p.ctx, "#btn-big", touch)
				waitBox(t, p.box, state.Live, 10*time.Second)
				do(t, p.ctx, 10*time.Second, poll(`document.getElementById('state-label').textContent === '直播中'`))
				time.Sleep(time.Second) // a second start would come now
				if n, lives := p.box.n(state.BigShort), p.pl.n("golive"); n != 1 || lives != 1 {
					t.Fatalf("one tap on 开播 sent %d presses and started %d times, want 1 and 1", n, lives)
				}

				// A short press while live only tells her how to end.
				tap(t, p.ctx, "#btn-big", touch)
				do(t, p.ctx, 5*time.Second, poll(`!document.getElementById('toast').hidden`))
				if got := text(t, p.ctx, "#toast"); !strings.Contains(got, "按住") {
					t.Errorf("a tap while live says %q, want how to end (按住 3 秒)", got)
				}
				if st := p.box.Status().State; st != state.Live || p.box.n(state.BigLong) != 0 {
					t.Fatalf("a tap while live: box %s, %d long presses", st, p.box.n(state.BigLong))
				}

				// A thumb that slides off the button during the hold lets go
				// of it: nothing ends.
				slideOff(t, p.ctx, "#btn-big", touch, 3500*time.Millisecond)
				time.Sleep(500 * time.Millisecond)
				if st, n := p.box.Status().State, p.box.n(state.BigLong); st != state.Live || n != 0 {
					t.Fatalf("after sliding off 下播: box %s, %d long presses", st, n)
				}

				press(t, p.ctx, "#btn-big", touch, 3500*time.Millisecond)
				released := time.Now()
				waitBox(t, p.box, state.Idle, 10*time.Second)
				// Ending must end: nothing may start it again after the
				// finger is lifted.
				for time.Since(released) < 10*time.Second {
					if st := p.box.Status().State; st != state.Idle {
						t.Fatalf("%.1f s after releasing 下播 the box is %s", time.Since(released).Seconds(), st)
					}
					time.Sleep(50 * time.Millisecond)
				}
				if n, long, lives := p.box.n(state.BigShort), p.box.n(state.BigLong), p.pl.n("golive"); n != 1 ||
					long != 1 || lives != 1 {
					t.Fatalf("after the hold: %d short and %d long presses, %d starts; want 1, 1, 1", n, long, lives)
				}
				if got := text(t, p.ctx, "#state-label"); got != "未开播" {
					t.Errorf("page shows %q after ending", got)
				}

				// And she can go live again with one tap.
				tap(t, p.ctx, "#btn-big", touch)
				waitBox(t, p.box, state.Live, 10*time.Second)
				if n := p.box.n(state.BigShort); n != 2 {
					t.Errorf("going live again took %d presses in all, want 2", n)
				}
			})
		}
	}
}

// rect is an element's box on screen.
type rect struct {
	Top, Bottom, Left, Right float64
}

const rectJS = `(sel) => { const e = document.querySelector(sel); if (!e) return null;
  const r = e.getBoundingClientRect(); return {Top: r.top, Bottom: r.bottom, Left: r.left, Right: r.right}; }`

func onScreen(t testing.TB, ctx context.Context, css string) (rect, bool) {
	t.Helper()
	r := eval[rect](t, ctx, `(`+rectJS+`)(`+"`"+css+"`"+`)`)
	w, h := eval[float64](t, ctx, `innerWidth`), eval[float64](t, ctx, `innerHeight`)
	return r, r.Bottom > r.Top && r.Top >= 0 && r.Left >= 0 && r.Bottom <= h+0.5 && r.Right <= w+0.5
}

// herView is what she must see without scrolling.
var herView = []string{"#preview-box", "#state", "#card", "#btn-big", "#btn-prev", "#btn-next", "#btn-hide",
	"#btn-light", "#btn-light-off", "#btn-mark"}

func checkHerView(t *testing.T, ctx context.Context, when string) {
	t.Helper()
	newest := "#warnings > li.newest"
	if !eval[bool](t, ctx, `!!document.querySelector('`+newest+`')`) {
		newest = "#no-warnings" // 没有提醒，说得很好
	}
	for _, css := range append(herView, newest) {
		if r, ok := onScreen(t, ctx, css); !ok {
			t.Errorf("%s: %s is not fully on screen without scrolling (%+v)", when, css, r)
		}
	}
	if y := eval[float64](t, ctx, `scrollY`); y != 0 {
		t.Errorf("%s: the page scrolled by %v px", when, y)
	}
	if eval[bool](t, ctx, `document.scrollingElement.scrollWidth > innerWidth`) {
		t.Errorf("%s: the page scrolls sideways (%v px wide in %v)", when,
			eval[float64](t, ctx, `document.scrollingElement.scrollWidth`), eval[float64](t, ctx, `innerWidth`))
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(os.TempDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// finding is what the compliance loop makes of what she said, with the
// real built-in rules.
func finding(t *testing.T, said, id string) compliance.Warning {
	t.Helper()
	l, err := lint.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	fs := l.Check(said)
	if len(fs) == 0 {
		t.Fatalf("the rules find nothing in %q", said)
	}
	f := fs[0]
	return compliance.Warning{ID: id, At: time.Now(), Said: said, MatchStart: f.Start, MatchEnd: f.End,
		Match: f.Match, Category: f.Category, CategoryName: lint.CategoryName(f.Category), Rule: f.Rule,
		Explain: f.Explain, Suggest: f.Suggest, Law: f.Law}
}

// Issue 12, items 2 and 3, and the setup problems: at phone sizes her view
// (preview, state, buttons, newest warning) fits without scrolling, a new
// warning is on screen within a second, flashes and vibrates (no sound),
// leads with what to say, shows what she said once, says why without
// legal terms, is not repeated under the box's messages, and a repeat is
// counted on the same card. The folded setup problems do not push her
// view down.
func TestWarningsAndLayoutInChromium(t *testing.T) {
	problems := []web.SetupProblem{
		{Source: "config", Where: "cunbo.toml 第12行 (pin)", Message: "密码太短，已用盒子标签上的密码", Hint: "写 6 到 8 位数字，比如 pin = \"518204\""},
		{Source: "catalog", Where: "商品.xlsx 第3行", Message: "价格不是数字，这一行没有用上", Hint: "写成 39.9"},
		{Source: "card", Where: "卡片 2「全网最好的野生蜂蜜」", Message: "卡片上的字违反广告规定，不在直播里显示", Hint: "改成「自家的野生蜂蜜」"},
	}
	for _, size := range phoneSizes {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			name := fmt.Sprintf("cunbo-phone-%dx%d", size.w, size.h)
			p := openPhone(t, size.w, size.h, true, problems)
			// On air, so the box itself lists compliance warnings too.
			if err := p.box.Post(state.BigShort, ""); err != nil {
				t.Fatal(err)
			}
			waitBox(t, p.box, state.Live, 10*time.Second)
			do(t, p.ctx, 10*time.Second, poll(`document.getElementById('state-label').textContent === '直播中'`))
			checkHerView(t, p.ctx, "no warning yet")
			screenshot(t, p.ctx, name+"-quiet")

			// The compliance loop hands each finding to the box (LED) and
			// the phone page, as app.New wires them.
			sinks := []compliance.WarningSink{compliance.BoxSink(p.box.Box), app.PhonePage(p.srv)}
			w := finding(t, "今天的辣椒酱全网最低价", "w1")
			start := time.Now()
			for _, s := range sinks {
				s.Warn(w)
			}
			do(t, p.ctx, 5*time.Second, poll(`(() => { const li = document.querySelector('#warnings > li.newest');
			  if (!li || li.dataset.id !== 'w1') return false;
			  const r = li.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; })()`))
			d := time.Since(start)
			t.Logf("the newest warning was on screen %v after the finding", d.Round(time.Millisecond))
			if d > time.Second {
				t.Errorf("the newest warning was on screen %v after the finding, want within 1 s", d)
			}
			checkHerView(t, p.ctx, "a warning")
			if !eval[bool](t, p.ctx, `document.querySelector('#warnings > li.newest').classList.contains('flash')`) {
				t.Error("a new warning does not flash")
			}
			if n := eval[int](t, p.ctx, `window.__vibrations`); n != 1 {
				t.Errorf("the phone vibrated %d times for one warning, want 1", n)
			}

			// Her words first: what to say, what she said (once), why.
			lines := eval[[]string](t, p.ctx, `Array.from(document.querySelectorAll('#warnings > li.newest > p'), (p) => p.innerText)`)
			if len(lines) < 3 || !strings.HasPrefix(lines[0], "👉") || !strings.Contains(lines[0], w.Suggest) ||
				!strings.Contains(lines[1], w.Said) || !strings.HasPrefix(lines[2], "为什么") {
				t.Errorf("card lines %q: want what to say, what she said, why", lines)
			}
			seen := eval[string](t, p.ctx, `document.querySelector('#warnings > li.newest').innerText`)
			for _, bad := range []string{"说说", "说：说", w.CategoryName, w.Law, "第九条", "绝对化"} {
				if strings.Contains(seen, bad) {
					t.Errorf("the card shows %q on the first screen:\n%s", bad, seen)
				}
			}
			if n := strings.Count(seen, w.Match); n != 1 {
				t.Errorf("the card shows %q %d times, want once:\n%s", w.Match, n, seen)
			}
			// The box lists the same warning (for its LED and terminal):
			// the page must not show it again under 盒子消息.
			time.Sleep(500 * time.Millisecond)
			if box := p.box.Status().Warnings; len(box) == 0 {
				t.Fatal("the box did not take the warning")
			}
			all := eval[string](t, p.ctx, `document.getElementById('app').innerText`)
			if n := strings.Count(all, w.Match); n != 1 {
				t.Errorf("the page shows %q %d times, want once:\n%s", w.Match, n, all)
			}
			screenshot(t, p.ctx, name+"-warning")

			// The law is one tap away.
			tap(t, p.ctx, "#warnings > li.newest details.law summary", true)
			do(t, p.ctx, 5*time.Second, poll(`document.querySelector('#warnings > li.newest details.law').open`))
			if law := eval[string](t, p.ctx, `document.querySelector('#warnings > li.newest details.law').innerText`); !strings.Contains(law, w.Law) {
				t.Errorf("看规定 shows %q, want the law %q", law, w.Law)
			}
			tap(t, p.ctx, "#warnings > li.newest details.law summary", true)

			// She says it again twice within a minute: the same card counts
			// up and flashes again; no new card.
			for i := 2; i <= 3; i++ {
				w2 := finding(t, "真的全网最低价了", fmt.Sprintf("w%d", i))
				for _, s := range sinks {
					s.Warn(w2)
				}
				do(t, p.ctx, 5*time.Second, poll(fmt.Sprintf(`(document.querySelector('#warnings > li.newest .count') || {}).textContent === '说了 %d 次'`, i)))
			}
			if n := eval[int](t, p.ctx, `document.querySelectorAll('#warnings > li').length`); n != 1 {
				t.Errorf("%d cards for one problem said three times, want 1", n)
			}
			if n := eval[int](t, p.ctx, `window.__vibrations`); n != 3 {
				t.Errorf("the phone vibrated %d times for three warnings, want 3", n)
			}
			if n := eval[int](t, p.ctx, `window.__sounds + document.querySelectorAll('audio').length`); n != 0 {
				t.Errorf("the page made %d sounds; her microphone would carry them into the broadcast", n)
			}
			// A different problem is a new card on top; the older one folds.
			for _, s := range sinks {
				s.Warn(finding(t, "这个蜂蜜能治胃病", "w4"))
			}
			do(t, p.ctx, 5*time.Second, poll(`document.querySelector('#warnings > li.newest').dataset.id === 'w4'`))
			checkHerView(t, p.ctx, "a second problem")

			// Setup problems: one folded line under her view.
			if got := text(t, p.ctx, "#problems-title"); got != "⚙️ 设置问题（3）" {
				t.Errorf("problems title %q", got)
			}
			if eval[bool](t, p.ctx, `document.getElementById('problems').open`) {
				t.Error("setup problems are unfolded: her view comes first")
			}
			if below := eval[bool](t, p.ctx, `document.getElementById('problems').getBoundingClientRect().top >=
			    document.querySelector('#warnings > li.newest').getBoundingClientRect().bottom`); !below {
				t.Error("the setup problems sit above her newest warning")
			}
			screenshot(t, p.ctx, name+"-repeat")
			do(t, p.ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#problems summary")),
				poll(`document.getElementById('problems').open`))
			listed := text(t, p.ctx, "#problem-list")
			for _, pr := range problems {
				for _, want := range []string{pr.Where, pr.Message, pr.Hint} {
					if !strings.Contains(listed, want) {
						t.Errorf("setup problems list %q lacks %q", listed, want)
					}
				}
			}
			if eval[bool](t, p.ctx, `document.scrollingElement.scrollWidth > innerWidth`) {
				t.Error("the unfolded setup problems scroll sideways")
			}
			screenshot(t, p.ctx, name+"-problems")
			pageErrors(t, p.ctx)
		})
	}
}

// Issue 12, item 4: every physical button is on the page (hide the card,
// light off) and 我说错了 says plainly that it was marked.
func TestEveryButtonInChromium(t *testing.T) {
	p := openPhone(t, 360, 640, true, nil)
	if err := p.box.Post(state.BigShort, ""); err != nil {
		t.Fatal(err)
	}
	waitBox(t, p.box, state.Live, 10*time.Second)
	do(t, p.ctx, 10*time.Second, poll(`document.getElementById('state-label').textContent === '直播中'`))

	// A thumb sliding over a button (scrolling, or changing her mind)
	// presses nothing.
	from := center(t, p.ctx, "#btn-next")
	touchAt(t, p.ctx, input.DispatchTouchEventTypeTouchStart, from)
	for dy := 20.0; dy <= 100; dy += 20 {
		touchAt(t, p.ctx, input.DispatchTouchEventTypeTouchMove, point{from.X, from.Y - dy})
	}
	touchAt(t, p.ctx, input.DispatchTouchEventTypeTouchEnd, point{})
	time.Sleep(time.Second)
	if n := p.box.n(state.CardNext); n != 0 {
		t.Fatalf("a slide over 下一个 pressed it %d times", n)
	}

	tap(t, p.ctx, "#btn-next", true)
	do(t, p.ctx, 10*time.Second, poll(`document.getElementById('card').dataset.index === '1'`))
	if n := p.box.n(state.CardNext); n != 1 {
		t.Errorf("one tap on 下一个 pressed it %d times", n)
	}

	tap(t, p.ctx, "#btn-hide", true)
	do(t, p.ctx, 10*time.Second, poll(`document.getElementById('card').className === 'card-hidden'`))
	if n := p.pl.n("hide"); n != 1 {
		t.Errorf("收起卡片 hid the card %d times, want 1", n)
	}
	if got := text(t, p.ctx, "#toast"); !strings.Contains(got, "卡片已收起") {
		t.Errorf("after hiding the card the page says %q", got)
	}
	if !eval[bool](t, p.ctx, `document.getElementById('btn-hide').disabled`) {
		t.Error("收起卡片 still offered with the card hidden")
	}
	tap(t, p.ctx, "#btn-prev", true)
	do(t, p.ctx, 10*time.Second, poll(`document.getElementById('card').className === 'card-shown'`))

	tap(t, p.ctx, "#btn-light", true)
	do(t, p.ctx, 10*time.Second, poll(`document.getElementById('light-label').textContent !== '灯光：中'`))
	if r := p.box.Status().Ring; r == hw.LevelOff.String() {
		t.Fatalf("ring light %s after 灯光", r)
	}
	tap(t, p.ctx, "#btn-light-off", true)
	do(t, p.ctx, 10*time.Second, poll(`document.getElementById('light-label').textContent === '灯光：关'`))
	if r := p.box.Status().Ring; r != hw.LevelOff.String() {
		t.Errorf("ring light %s after 关灯, want off", r)
	}
	if st := p.box.Status().State; st != state.Live {
		t.Errorf("the buttons changed the box to %s", st)
	}

	tap(t, p.ctx, "#btn-mark", true)
	do(t, p.ctx, 10*time.Second, poll(`document.getElementById('toast').textContent.includes('已记下')`))
	if got := text(t, p.ctx, "#toast"); got != "✅ 已记下，社工老师会看到" {
		t.Errorf("after 我说错了 the page says %q", got)
	}
	if _, ok := onScreen(t, p.ctx, "#toast"); !ok {
		t.Error("the confirmation is not on screen")
	}
	if n := p.pl.n("mark"); n != 1 {
		t.Errorf("我说错了 marked %d times, want 1", n)
	}
	screenshot(t, p.ctx, "cunbo-phone-buttons")
	pageErrors(t, p.ctx)
}

// pageErrors fails on script errors and CSP violations the page had.
func pageErrors(t *testing.T, ctx context.Context) {
	t.Helper()
	if errs := eval[[]string](t, ctx, `window.__errors`); len(errs) > 0 {
		t.Errorf("the page had errors: %q", errs)
	}
}

// The longest state words and the weak-network sentence (large type) in
// the side column must not push her buttons or the newest warning off a
// 360×640 screen.
func TestWeakNetworkLayoutInChromium(t *testing.T) {
	box := &liveBox{}
	box.st.Store(firmware.Status{State: state.Reconnecting, Since: time.Now(), Ring: "high"})
	srv, err := web.New(web.Options{Box: box, PIN: testPIN, StatusInterval: 100 * time.Millisecond,
		Details: func() web.Details {
			return web.Details{Destination: "抖音", BitrateKbps: 300,
				Video:    &web.Video{Kbps: 300, Width: 640, Height: 360, FPS: 25, Reduced: true, Limiter: "抖音"},
				Card:     &web.Card{Index: 2, Name: "侗家手工酸汤鱼调料（大瓶装）", Visible: true},
				Captions: web.Captions{Reason: "没有装语音模型"},
				Problems: []web.SetupProblem{{Source: "config", Where: "cunbo.toml 第3行", Message: "不认识的设置"}}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close) // after the browser (cleanups run last first) and its events stream are gone
	ctx := chromium(t)
	do(t, ctx, 20*time.Second,
		chromedp.EmulateViewport(360, 640, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate(hs.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pin")),
		chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#network-note")),
	)
	w := finding(t, "我们家的蜂蜜是全网最便宜的而且比超市里卖的那些都要好很多", "w1")
	app.PhonePage(srv).Warn(w)
	do(t, ctx, 5*time.Second, poll(`!!document.querySelector('#warnings > li.newest')`))
	checkHerView(t, ctx, "reconnecting, weak network, a long warning")
	if !eval[bool](t, ctx, `!document.getElementById('network-note').hidden`) {
		t.Error("the weak-network sentence is not shown")
	}
	screenshot(t, ctx, "cunbo-phone-360x640-weak")
}
