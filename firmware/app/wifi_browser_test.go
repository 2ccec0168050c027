package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/firmware/wifi"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/sharedtest"
)

// stillPipeline is a media pipeline that does nothing: the hotspot page
// needs only the box's state.
type stillPipeline struct{}

func (stillPipeline) GoLive(context.Context) error { return nil }
func (stillPipeline) End() error                   { return nil }
func (stillPipeline) NextCard() error              { return nil }
func (stillPipeline) PrevCard() error              { return nil }
func (stillPipeline) HideCard() error              { return nil }
func (stillPipeline) Mark() error                  { return nil }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Her router changed: the box, idle and without a network, offers its
// hotspot; her phone (360×640, touch) opens the page, gives the PIN, sees
// 📶 连不上网了 and the names around, picks hers, is told her phone will
// drop off, types a wrong password (the box tries, fails and offers the
// hotspot again), then the right one: the box joins and the page says so.
func TestHotspotPageJoinsHerNewRouter(t *testing.T) {
	v := hw.NewVirtual(nil)
	box, err := firmware.NewBox(firmware.Options{Pipeline: stillPipeline{}, LED: v.LED, Ring: v.Ring})
	if err != nil {
		t.Fatal(err)
	}
	sharedtest.Run(t, "Box.Run", 30*time.Second, sharedtest.CanceledIsClean(box.Run))

	const newPW = "xiu-new-router-2026"
	fake := &wifi.Fake{Routers: map[string]string{"阿秀新家": newPW, "邻居家": "neighbour-pw-1"}}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	w := app.NewWiFi(fake, key, t.TempDir(), log)
	w.Keeper.After, w.Keeper.Settle = 300*time.Millisecond, 300*time.Millisecond
	w.Keeper.Idle = func() bool { return box.Status().State == state.Idle }
	sharedtest.Run(t, "Keeper.Run", 30*time.Second, sharedtest.CanceledIsClean(func(ctx context.Context) error {
		return w.Keeper.Run(ctx, 50*time.Millisecond)
	}))
	srv, err := web.New(web.Options{Box: box, PIN: testPIN, WiFi: w, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	phone := chromium(t)
	do(t, phone, 10*time.Second,
		chromedp.EmulateViewport(360, 640, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	do(t, phone, 30*time.Second,
		chromedp.Navigate(hs.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pin")),
		chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#app")),
	)
	do(t, phone, 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#wifi-area")),
		poll(`document.querySelectorAll('#wifi-list button').length === 2`))
	label := wifi.LabelFor(key)
	if on, ssid, _ := fake.Hotspot(); !on || ssid != label.SSID {
		t.Fatalf("hotspot %v %q, want on as %q", on, ssid, label.SSID)
	}
	if got := text(t, phone, "#wifi-area h2"); got != "📶 连不上网了" {
		t.Fatalf("title %q", got)
	}
	if f := eval[float64](t, phone, `parseFloat(getComputedStyle(document.querySelector('#wifi-list button')).fontSize)`); f < 20 {
		t.Errorf("network names in %v px type, want ≥ 20", f)
	}
	// Her instructions are readable on the light card (the dark page's
	// grey hint was #bbb on light blue, 1.7:1).
	if c := eval[float64](t, phone, contrastJS+`('#wifi-hint', '#wifi-area')`); c < 4.5 {
		t.Errorf("the hint's contrast on the Wi-Fi card is %.1f:1, want ≥ 4.5", c)
	}

	press(t, phone, `#wifi-list button[data-ssid="阿秀新家"]`, true, 80*time.Millisecond)
	do(t, phone, 10*time.Second, chromedp.WaitVisible(chromedp.CSS("#wifi-password")))
	if got := text(t, phone, "#wifi-warn"); !strings.Contains(got, "手机会断开盒子的 Wi-Fi") || !strings.Contains(got, label.SSID) {
		t.Fatalf("before pressing she is told %q; want that her phone drops off, and the hotspot's name", got)
	}

	// Too short: refused at once, nothing changes.
	do(t, phone, 10*time.Second, chromedp.SendKeys(chromedp.CSS("#wifi-password"), "1234"))
	press(t, phone, "#wifi-join", true, 80*time.Millisecond)
	do(t, phone, 10*time.Second, poll(`document.getElementById('wifi-error').textContent.includes('8 到 63 位')`))
	if on, _, _ := fake.Hotspot(); !on {
		t.Fatal("a refused password took the hotspot down")
	}

	// Wrong, with the name typed by hand (as for a network the scan
	// missed): tried, failed, the hotspot is back and the page says why.
	press(t, phone, "#wifi-other", true, 80*time.Millisecond)
	do(t, phone, 10*time.Second, chromedp.WaitVisible(chromedp.CSS("#wifi-name")),
		chromedp.SendKeys(chromedp.CSS("#wifi-name"), "阿秀新家"))
	eval[bool](t, phone, `(document.getElementById('wifi-password').value = '') === ''`)
	do(t, phone, 10*time.Second, chromedp.SendKeys(chromedp.CSS("#wifi-password"), "wrong-password"))
	press(t, phone, "#wifi-join", true, 80*time.Millisecond)
	do(t, phone, 30*time.Second, poll(`document.getElementById('wifi-result').textContent.includes('没连上')`))
	resultUncovered(t, phone, "the wrong password's outcome")
	if on, _, _ := fake.Hotspot(); !on {
		t.Fatal("after a wrong password the hotspot is not back")
	}

	// Right, picked from the list: joined; the hotspot is off and stays off.
	press(t, phone, `#wifi-list button[data-ssid="阿秀新家"]`, true, 80*time.Millisecond)
	do(t, phone, 10*time.Second, chromedp.WaitVisible(chromedp.CSS("#wifi-password")),
		poll(`document.getElementById('wifi-name').hidden`),
		chromedp.SendKeys(chromedp.CSS("#wifi-password"), newPW))
	if !eval[bool](t, phone, `(() => { const r = document.getElementById('wifi-join').getBoundingClientRect();
	  return r.top >= 0 && r.bottom <= window.innerHeight; })()`) {
		t.Fatal("连接 is off her 360×640 screen after she picked a network")
	}
	press(t, phone, "#wifi-join", true, 80*time.Millisecond)
	do(t, phone, 30*time.Second, poll(`document.getElementById('wifi-result').textContent.includes('已连上「阿秀新家」')`))
	resultUncovered(t, phone, "the join's outcome")
	if on, _, _ := fake.Hotspot(); on || fake.Active() != "cunbo-阿秀新家" {
		t.Fatalf("after the join: hotspot %v, active %q", on, fake.Active())
	}
	if n, ok := fake.Saved("cunbo-阿秀新家"); !ok || n.PSK != newPW || n.Priority != wifi.JoinPriority {
		t.Fatalf("saved %+v %v", n, ok)
	}
	if eval[bool](t, phone, `!document.getElementById('wifi-list').hidden || !document.getElementById('wifi-other').hidden`) {
		t.Error("the list of names is still shown once joined")
	}
	if l := logs.String(); strings.Contains(l, newPW) || strings.Contains(l, "wrong-password") || !strings.Contains(l, "阿秀新家") {
		t.Fatalf("log (the network, never a password):\n%s", l)
	}
}

// resultUncovered fails when the 正在连 toast still lies over the outcome
// it announced (it stayed its 4 s and hid 没连上 under it).
func resultUncovered(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if eval[bool](t, ctx, `(() => { const toast = document.getElementById('toast');
	  if (toast.hidden) return false;
	  const a = toast.getBoundingClientRect(), b = document.getElementById('wifi-result').getBoundingClientRect();
	  return a.top < b.bottom && b.top < a.bottom; })()`) {
		t.Errorf("%s %q is under the toast %q", what, text(t, ctx, "#wifi-result"), text(t, ctx, "#toast"))
	}
}

// contrastJS is a function of (text selector, background selector): the
// WCAG contrast ratio of the text's colour on the background's.
const contrastJS = `((fg, bg) => {
  const rgb = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop].match(/[0-9.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const a = lum(rgb(fg, 'color')), b = lum(rgb(bg, 'backgroundColor'));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); })`
