package console_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/internal/browsertest"
	"github.com/cunbo/cunbo/review/store"
)

// chromium starts headless Chromium with a window (and, below 500 px, a
// phone's viewport) of w×h.
func chromium(t *testing.T, w, h int) context.Context {
	t.Helper()
	ctx := browsertest.Chromium(t, chromedp.WindowSize(w, h))
	// The window alone does not go below 500 px wide in headless mode;
	// the viewport is set as a phone's is.
	vp := chromedp.EmulateViewport(int64(w), int64(h))
	if w < 500 {
		vp = chromedp.EmulateViewport(int64(w), int64(h), chromedp.EmulateMobile, chromedp.EmulateScale(2))
	}
	if err := chromedp.Do(ctx, vp); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func do(t *testing.T, ctx context.Context, d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("chromium: %v", err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("chromium: evaluate %s: %v", expr, err)
	}
	return v
}

func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond))
}

// waitFor evaluates expr until it is true, across page loads (a poll
// started on one page fails when the page goes away).
func waitFor(t *testing.T, ctx context.Context, d time.Duration, expr string) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("chromium: %s not true within %v (%v)", expr, d, last)
}

// shot saves a screenshot of the viewport under /tmp for a person to look
// at.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	b, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile("/tmp/cunbo-console-"+name+".png", b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A social worker in Chromium, on a laptop and on a phone: signs in, sees
// the segments a box uploaded, plays one (the clip starts a few seconds
// before the words and the transcript follows it), decides with the
// keyboard, and undoes.
func TestConsoleInChromium(t *testing.T) {
	// The whole flow once more on PostgreSQL (at laptop size: the screen
	// changes nothing the store does).
	for _, size := range []struct {
		name    string
		w, h    int
		backend string
	}{{"laptop", 1366, 768, "sqlite"}, {"phone", 360, 640, "sqlite"}, {"laptop-postgres", 1366, 768, "postgres"}} {
		t.Run(size.name, func(t *testing.T) {
			e := newEnvOn(t, size.backend)
			e.addUser("王芳", store.RoleSocial)
			e.addUser("李梅", store.RoleSocial)
			boxA := e.addBox("雷山 村A 杨阿姨", "王芳")
			e.addBox("雷山 村B", "李梅")
			mp4 := clip(t, 8)
			now := time.Now().UTC().Truncate(time.Second)
			older, tarOld := segmentTar(t, 1, now.Add(-2*time.Hour), mp4)
			e.upload("雷山 村A 杨阿姨", older, tarOld)
			newer, tarNew := segmentTar(t, 2, now.Add(-time.Hour), mp4)
			e.upload("雷山 村A 杨阿姨", newer, tarNew)
			other, tarOther := segmentTar(t, 3, now, mp4)
			e.upload("雷山 村B", other, tarOther)

			ctx := chromium(t, size.w, size.h)
			do(t, ctx, 30*time.Second,
				chromedp.Navigate(e.base+"/console/"),
				chromedp.WaitVisible(chromedp.CSS("#name")),
			)
			shot(t, ctx, size.name+"-login")
			do(t, ctx, 30*time.Second,
				chromedp.SendKeys(chromedp.CSS("#name"), "王芳"),
				chromedp.SendKeys(chromedp.CSS("#password"), password),
				chromedp.Click(chromedp.CSS("#login")),
				chromedp.WaitVisible(chromedp.CSS("#new a.row")),
			)
			shot(t, ctx, size.name+"-queue")
			// Her two segments, newest first; not the other woman's.
			hrefs := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#new a.row')).map(a => a.getAttribute('href'))`)
			if len(hrefs) != 2 || !strings.HasSuffix(hrefs[0], newer) || !strings.HasSuffix(hrefs[1], older) {
				t.Fatalf("queue links %v, want %s then %s", hrefs, newer, older)
			}
			row := eval[string](t, ctx, `document.querySelector('#new a.row').innerText`)
			for _, want := range []string{"雷山 村A 杨阿姨", "全网最低价", "绝对化用语", "还没看"} {
				if !strings.Contains(row, want) {
					t.Errorf("queue row %q lacks %q", row, want)
				}
			}
			if got := eval[string](t, ctx, `document.querySelector('#new a.row mark').textContent`); got != "全网最低价" {
				t.Errorf("highlighted %q in the queue", got)
			}

			// The moment: the clip starts 3 s before the words (at 1 s of
			// the clip), plays, and the flagged line lights up when
			// reached (4 s into the clip).
			do(t, ctx, 30*time.Second,
				chromedp.Click(chromedp.CSS("#new a.row")),
				chromedp.WaitVisible(chromedp.CSS("#clip")),
				poll(`document.getElementById('clip').readyState >= 1`),
			)
			if start := eval[float64](t, ctx, `document.getElementById('clip').currentTime`); start < 0.9 || start > 1.5 {
				t.Errorf("clip starts at %.2f s, want 1 s (3 s before the words)", start)
			}
			eval[chromedp.Void](t, ctx, `document.getElementById('clip').play()`)
			do(t, ctx, 40*time.Second,
				poll(`document.getElementById('clip').currentTime > 4.3`),
				poll(`(document.querySelector('#transcript li.now') || {}).className === 'flagged now'`),
			)
			shot(t, ctx, size.name+"-moment")
			if got := eval[string](t, ctx, `document.querySelector('#transcript li.now mark').textContent`); got != "全网最低价" {
				t.Errorf("playing line highlights %q", got)
			}
			words := eval[string](t, ctx, `document.querySelector('.finding').innerText`)
			for _, want := range []string{"全网最低价", "没法证明", "可以改说", "我们家的价格很实在", "广告法第九条"} {
				if !strings.Contains(words, want) {
					t.Errorf("finding panel %q lacks %q", words, want)
				}
			}
			// The decision buttons are on screen without scrolling, on the
			// phone too.
			if got := eval[int](t, ctx, `innerWidth`); got != size.w {
				t.Fatalf("viewport %d px wide, want %d", got, size.w)
			}
			if ok := eval[bool](t, ctx, `document.getElementById('clip').getBoundingClientRect().bottom > 40`); !ok {
				t.Errorf("the clip scrolled out of sight while the transcript followed it")
			}
			if ok := eval[bool](t, ctx, `(() => { const r = document.getElementById('btn-real').getBoundingClientRect();
				return r.top >= 0 && r.bottom <= innerHeight && r.height >= 40; })()`); !ok {
				t.Errorf("the 确实有问题 button is not fully on screen at %dx%d", size.w, size.h)
			}

			// r: a real problem, and on to the next new one.
			do(t, ctx, 30*time.Second,
				chromedp.KeyEvent("r"),
			)
			waitFor(t, ctx, 30*time.Second, `location.pathname.endsWith('`+older+`') && document.readyState === 'complete' && !!document.getElementById('clip')`)
			ref := store.SegmentRef{BoxID: boxA, ID: newer}
			if st, err := e.st.State(context.Background(), ref); err != nil || st != store.StateReal {
				t.Fatalf("after r: %q %v, want real", st, err)
			}
			// f on the second: a false alarm; nothing new is left.
			do(t, ctx, 30*time.Second,
				chromedp.KeyEvent("f"),
			)
			waitFor(t, ctx, 30*time.Second, `location.pathname === '/console/' && !!document.querySelector('.note')`)
			shot(t, ctx, size.name+"-done")
			// u, u: both decisions are taken back, newest first.
			do(t, ctx, 30*time.Second,
				chromedp.Navigate(e.base+"/console/m/"+boxA+"/"+newer),
				chromedp.WaitVisible(chromedp.CSS("#undo")),
				chromedp.KeyEvent("u"),
			)
			waitFor(t, ctx, 30*time.Second, `location.pathname.endsWith('`+older+`') && location.search === '?msg=undone' && !!document.getElementById('btn-real')`)
			shot(t, ctx, size.name+"-undone")
			if st, _ := e.st.State(context.Background(), store.SegmentRef{BoxID: boxA, ID: older}); st != store.StateNew {
				t.Errorf("after undo: %q, want new", st)
			}
			do(t, ctx, 30*time.Second,
				chromedp.KeyEvent("u"),
			)
			waitFor(t, ctx, 30*time.Second, `location.pathname.endsWith('`+newer+`') && location.search === '?msg=undone' && !!document.getElementById('btn-real')`)
			if st, _ := e.st.State(context.Background(), ref); st != store.StateNew {
				t.Errorf("after the second undo: %q, want new", st)
			}
			// The page's own scripts and styles stay small.
			if n := eval[int](t, ctx, `performance.getEntriesByType('resource').filter(r => r.name.includes('/static/')).reduce((n, r) => n + r.decodedBodySize, 0)`); n == 0 || n > 150<<10 {
				t.Errorf("scripts and styles: %d bytes", n)
			}
		})
	}
}
