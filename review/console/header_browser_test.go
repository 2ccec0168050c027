package console_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/review/store"
)

// headerBox is the header's and its targets' geometry in CSS pixels.
type headerBox struct {
	Height    float64
	Tops      []float64 // each link's and button's top
	Heights   []float64
	Lefts     []float64
	Rights    []float64
	Width     float64 // the viewport's
	Scrolls   bool    // the menu scrolls sideways
	Sideways  float64 // how far the page scrolls sideways
	NavTarget int
}

// The header of someone with every role (the most links): on a phone it
// takes two rows with every link and button a thumb's height and on
// screen; on a laptop it stays one row.
func TestHeaderInChromium(t *testing.T) {
	for _, size := range []struct {
		name    string
		w, h    int
		maxRows int
		phone   bool
	}{{"phone", 390, 844, 2, true}, {"small-phone", 360, 640, 2, true}, {"laptop", 1366, 768, 1, false}} {
		t.Run(size.name, func(t *testing.T) {
			e := newEnv(t)
			e.addUser("王芳芳老师", store.RoleAdmin, store.RoleTrainer, store.RoleSocial)
			ctx := chromium(t, size.w, size.h)
			do(t, ctx, 30*time.Second,
				chromedp.Navigate(e.base+"/console/login"),
				chromedp.WaitVisible(chromedp.CSS("#name")),
				chromedp.SendKeys(chromedp.CSS("#name"), "王芳芳老师"),
				chromedp.SendKeys(chromedp.CSS("#password"), password),
				chromedp.Click(chromedp.CSS("#login")),
				chromedp.WaitVisible(chromedp.CSS(`a[href="/console/boxes"]`)),
				chromedp.Navigate(e.base+"/console/boxes"),
				chromedp.WaitVisible(chromedp.CSS(`#nav-rules`)),
			)
			shot(t, ctx, "header-"+size.name)
			hb := eval[headerBox](t, ctx, `(() => {
				const h = document.querySelector('header.top'), m = h.querySelector('nav.menu') || h;
				const els = Array.from(h.querySelectorAll('a, button')).map(e => e.getBoundingClientRect());
				return {Height: h.getBoundingClientRect().height, Tops: els.map(r => r.top), Heights: els.map(r => r.height),
					Lefts: els.map(r => r.left), Rights: els.map(r => r.right), Width: innerWidth,
					Scrolls: m.scrollWidth > m.clientWidth + 1, Sideways: document.documentElement.scrollWidth - innerWidth,
					NavTarget: m.querySelectorAll('a.navlink').length};
			})()`)
			if hb.NavTarget != 6 {
				t.Fatalf("%d menu links, want 6 for every role", hb.NavTarget)
			}
			// Rows: targets whose tops are more than half a target apart.
			var rows []float64
			for _, top := range hb.Tops {
				seen := false
				for _, r := range rows {
					if top > r-20 && top < r+20 {
						seen = true
					}
				}
				if !seen {
					rows = append(rows, top)
				}
			}
			if len(rows) > size.maxRows {
				t.Errorf("the header has %d rows of links and buttons (tops %v), want at most %d", len(rows), hb.Tops, size.maxRows)
			}
			if hb.Sideways > 0 {
				t.Errorf("the page scrolls sideways by %.0f px", hb.Sideways)
			}
			if !size.phone {
				if hb.Height > 80 {
					t.Errorf("the header is %.0f px tall on a laptop, want one row", hb.Height)
				}
				return
			}
			if hb.Height > 2*56+16 {
				t.Errorf("the header is %.0f px tall, want two rows", hb.Height)
			}
			for i, h := range hb.Heights {
				if h < 44 {
					t.Errorf("header target %d is %.0f px tall, want ≥ 44 px to tap", i, h)
				}
				if hb.Lefts[i] < 0 || hb.Rights[i] > hb.Width {
					t.Errorf("header target %d spans %.0f–%.0f px, off the %.0f px screen", i, hb.Lefts[i], hb.Rights[i], hb.Width)
				}
			}
			if hb.Scrolls {
				t.Errorf("the menu scrolls sideways: some links are off screen")
			}
		})
	}
}
