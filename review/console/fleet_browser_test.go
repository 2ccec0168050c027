package console_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/firmware/heartbeat"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/review/console"
	"github.com/cunbo/cunbo/review/store"
)

// pcSys is a simulated box's machine: a PC, heat and throttling unknown.
type pcSys struct{}

func (pcSys) Uptime() (time.Duration, bool)                { return 2 * time.Hour, true }
func (pcSys) TempC() (float64, bool)                       { return 0, false }
func (pcSys) Throttled(context.Context) (bool, bool, bool) { return false, false, false }
func (pcSys) Disk(string) (uint64, uint64, error)          { return 41 << 30, 64 << 30, nil }

// The test: a trainer's fleet page, on a phone and on a laptop,
// shows a simulated box (the box's own heartbeat sender) 正常 while it
// reports and 失联 once its heartbeats stop and three days pass on the
// service's clock; the page fits the screen.
func TestFleetGoesLostInChromium(t *testing.T) {
	for _, size := range []struct {
		name string
		w, h int
	}{{"phone", 360, 640}, {"laptop", 1366, 768}} {
		t.Run(size.name, func(t *testing.T) {
			clk := &clock{}
			e := newClockedEnv(t, "sqlite", clk)
			e.addUser("sw-a", store.RoleSocial)
			e.addUser("trainer", store.RoleTrainer)
			id := e.addBox("雷山 阿秀", "sw-a")
			e.addBox("榕江 杨阿姨", "sw-a") // never reports: needs attention at once

			c, err := upload.NewBoxClient(e.base, e.boxes["雷山 阿秀"].priv, nil)
			if err != nil {
				t.Fatal(err)
			}
			hb, err := heartbeat.New(heartbeat.Config{Client: c, Interval: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
				Sources: heartbeat.Sources{Version: "1.4.0", DataDir: "/data", Sys: pcSys{}}})
			if err != nil {
				t.Fatal(err)
			}
			bctx, stopBox := context.WithCancel(context.Background())
			boxDone := make(chan error, 1)
			go func() { boxDone <- hb.Run(bctx) }()
			t.Cleanup(func() { stopBox(); <-boxDone })

			ctx := chromium(t, size.w, size.h)
			login := func() {
				t.Helper()
				do(t, ctx, 30*time.Second,
					chromedp.Navigate(e.base+"/console/fleet"),
					chromedp.WaitVisible(chromedp.CSS("#name")),
					chromedp.SendKeys(chromedp.CSS("#name"), "trainer"),
					chromedp.SendKeys(chromedp.CSS("#password"), password),
					chromedp.Click(chromedp.CSS("#login")),
					chromedp.WaitVisible(chromedp.CSS("#nav-fleet")),
				)
			}
			login()
			// The fleet page from the menu, reloaded until the box has
			// reported.
			do(t, ctx, 30*time.Second, chromedp.Click(chromedp.CSS("#nav-fleet")), chromedp.WaitVisible(chromedp.CSS("#fleet")))
			row := `document.querySelector('#fleet li[data-box="` + id + `"]')`
			waitFor(t, ctx, 30*time.Second, `(() => { const r = `+row+`; if (r && r.dataset.state === 'ok') return true; location.reload(); return false; })()`)
			if got := eval[string](t, ctx, row+`.innerText`); !strings.Contains(got, "✅ 正常") || !strings.Contains(got, "雷山 阿秀") || !strings.Contains(got, "存储卡剩 64%") {
				t.Errorf("the reporting box: %q", got)
			}
			if got := eval[string](t, ctx, `document.querySelector('#fleet li').innerText`); !strings.Contains(got, "榕江 杨阿姨") || !strings.Contains(got, "还没有报到过") {
				t.Errorf("first row %q: the silent new box needs attention, and goes first", got)
			}
			shot(t, ctx, size.name+"-fleet-ok")

			// Its heartbeats stop; three days pass on the service's clock.
			stopBox()
			if err := <-boxDone; !errors.Is(err, context.Canceled) {
				t.Fatalf("the box's heartbeats: %v", err)
			}
			boxDone <- nil // for the cleanup
			clk.Advance(console.LostAfter + time.Minute)
			login() // the session ended with the days that passed
			do(t, ctx, 30*time.Second, chromedp.Navigate(e.base+"/console/fleet"), chromedp.WaitVisible(chromedp.CSS("#fleet")))
			if got := eval[string](t, ctx, row+`.dataset.state`); got != "lost" {
				t.Fatalf("after three silent days the box is %q, want lost", got)
			}
			got := eval[string](t, ctx, row+`.innerText`)
			if !strings.Contains(got, "📵 失联") || !strings.Contains(got, "已经 3 天没有消息了") {
				t.Errorf("the silent box: %q", got)
			}
			if first := eval[string](t, ctx, `document.querySelector('#fleet li').dataset.box`); first == "" {
				t.Error("no rows")
			}
			if n := eval[int](t, ctx, `document.querySelectorAll('#fleet li[data-state="lost"]').length`); n != 2 {
				t.Errorf("%d lost boxes, want 2 (the silent one, the one never heard from)", n)
			}
			if s := eval[string](t, ctx, `document.querySelector('#fleet-summary').innerText`); !strings.Contains(s, "失联 2") {
				t.Errorf("summary %q", s)
			}
			shot(t, ctx, size.name+"-fleet-lost")
			if wide := eval[int](t, ctx, `document.documentElement.scrollWidth`); wide > size.w {
				t.Errorf("page %d px wide on a %d px screen", wide, size.w)
			}
			if out := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('main *')).filter(e => {
				const r = e.getBoundingClientRect(); return r.width > 0 && (r.left < -1 || r.right > innerWidth + 1);
			}).map(e => e.tagName + '.' + e.className)`); len(out) > 0 {
				t.Errorf("wider than the screen: %v", out)
			}
			if px := eval[float64](t, ctx, `parseFloat(getComputedStyle(document.querySelector('#fleet .state')).fontSize)`); px < 14 {
				t.Errorf("state in %.0f px type", px)
			}

			// Replacing it: the new box's key gets a field the card's
			// width, under its label (it sat squeezed beside the label's
			// last line, 170 px wide on a phone).
			do(t, ctx, 30*time.Second, chromedp.Navigate(e.base+"/console/fleet/"+id+"/replace"), chromedp.WaitVisible(chromedp.CSS("#key")))
			type field struct{ Key, Form, LabelBottom, KeyTop float64 }
			f := eval[field](t, ctx, `(() => { const k = document.getElementById('key').getBoundingClientRect();
			  const l = document.querySelector('label[for=key]').getBoundingClientRect();
			  return {Key: k.width, Form: document.getElementById('key').form.getBoundingClientRect().width, LabelBottom: l.bottom, KeyTop: k.top}; })()`)
			if f.Key < 0.9*f.Form || f.KeyTop < f.LabelBottom-1 {
				t.Errorf("the key field is %.0f px wide in a %.0f px form, top %.0f (label ends at %.0f): want the form's width, under the label",
					f.Key, f.Form, f.KeyTop, f.LabelBottom)
			}
			shot(t, ctx, size.name+"-fleet-replace")
		})
	}
}
