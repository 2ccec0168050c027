package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Her page on a phone and on a laptop: reached from the queue by her
// name, nothing wider than the screen, the chart drawn and in sight.
func TestWomanPageInChromium(t *testing.T) {
	h := newHerWeek(t, newEnv(t))
	for _, size := range []struct {
		name string
		w, h int
	}{{"laptop", 1366, 768}, {"phone", 360, 640}} {
		t.Run(size.name, func(t *testing.T) {
			ctx := chromium(t, size.w, size.h)
			do(t, ctx, 30*time.Second,
				chromedp.Navigate(h.e.base+"/console/"),
				chromedp.WaitVisible(chromedp.CSS("#name")),
				chromedp.SendKeys(chromedp.CSS("#name"), "sw-a"),
				chromedp.SendKeys(chromedp.CSS("#password"), password),
				chromedp.Click(chromedp.CSS("#login")),
				chromedp.WaitVisible(chromedp.CSS("a.her")),
				chromedp.Click(chromedp.CSS("a.her")),
				chromedp.WaitVisible(chromedp.CSS("#chart svg")),
			)
			shot(t, ctx, size.name+"-woman")
			if got := eval[string](t, ctx, `location.pathname`); got != "/console/w/"+h.boxA {
				t.Fatalf("her name in the queue led to %s", got)
			}
			if got := eval[int](t, ctx, `innerWidth`); got != size.w {
				t.Fatalf("viewport %d px wide, want %d", got, size.w)
			}
			if wide := eval[int](t, ctx, `document.documentElement.scrollWidth`); wide > size.w {
				t.Errorf("page %d px wide on a %d px screen: it scrolls sideways", wide, size.w)
			}
			// Every element inside the screen's width (a table or a
			// chart may overflow its box without widening the page).
			if out := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('main *')).filter(e => {
				const r = e.getBoundingClientRect(); return r.width > 0 && (r.left < -1 || r.right > innerWidth + 1);
			}).map(e => e.tagName + '.' + e.className)`); len(out) > 0 {
				t.Errorf("wider than the screen: %v", out)
			}
			// The chart: on screen without scrolling on the laptop, big
			// enough to read, its bars drawn.
			box := eval[map[string]float64](t, ctx, `(() => { const r = document.querySelector('#chart svg').getBoundingClientRect();
				return {w: r.width, h: r.height, top: r.top + scrollY}; })()`)
			if box["w"] < min(float64(size.w)*0.8, 500) || box["h"] < 150 {
				t.Errorf("chart %.0fx%.0f px on a %d px screen", box["w"], box["h"], size.w)
			}
			if size.name == "laptop" && box["top"]+box["h"] > float64(size.h) {
				t.Errorf("chart ends at %.0f px, below the fold of %d", box["top"]+box["h"], size.h)
			}
			if n := eval[int](t, ctx, `Array.from(document.querySelectorAll('#chart g.bar rect')).filter(r => r.getBoundingClientRect().height > 1).length`); n != 3 {
				t.Errorf("%d bar parts drawn, want 3", n)
			}
			// Text in the chart stays readable on the phone.
			if px := eval[float64](t, ctx, `Math.min(...Array.from(document.querySelectorAll('#chart text')).map(e => e.getBoundingClientRect().height))`); px < 9 {
				t.Errorf("chart text %.1f px high", px)
			}
			page := eval[string](t, ctx, `document.querySelector('main').innerText`)
			for _, want := range []string{"榕江 杨阿姨 的进步", "说“蜂蜜很香”就好", "绝对化用语"} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			// The CSP lets nothing inline through: the page has no
			// console errors to prove, but its own stylesheet applied.
			if bg := eval[string](t, ctx, `getComputedStyle(document.querySelector('figure.chart')).backgroundColor`); bg != "rgb(255, 255, 255)" {
				t.Errorf("progress.css not applied: chart background %q", bg)
			}
		})
	}
}
