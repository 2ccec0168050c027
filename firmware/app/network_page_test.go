package app_test

import (
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
)

// liveBox is a box on air whose status the test sets.
type liveBox struct{ st atomic.Value }

func (b *liveBox) Status() firmware.Status { return b.st.Load().(firmware.Status) }
func (b *liveBox) Subscribe() (<-chan firmware.Status, func()) {
	return make(chan firmware.Status), func() {}
}
func (b *liveBox) Post(state.Event, string) error { return nil }

// TestWeakNetworkNoteInChromium: on air with a reduced picture, the phone
// shows one plain sentence in large type; when the picture is back to
// full size it goes away. The trainer's line lists each destination.
func TestWeakNetworkNoteInChromium(t *testing.T) {
	box := &liveBox{}
	box.st.Store(firmware.Status{State: state.Degraded, Since: time.Now()})
	var reduced atomic.Bool
	reduced.Store(true)
	srv, err := web.New(web.Options{Box: box, PIN: testPIN, StatusInterval: 100 * time.Millisecond,
		Details: func() web.Details {
			v := &web.Video{Kbps: 1500, Width: 1280, Height: 720, FPS: 30}
			if reduced.Load() {
				v = &web.Video{Kbps: 300, Width: 640, Height: 360, FPS: 25, Reduced: true, Limiter: "抖音"}
			}
			return web.Details{Destination: "抖音", BitrateKbps: v.Kbps, Video: v, Destinations: []web.Destination{
				{Name: "抖音", Kind: "rtmp", Connected: true, SentKbps: v.Kbps},
				{Name: "视频号", Kind: "whip", LastError: "whip: server answered 401 Unauthorized"},
			}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	// Closed after the browser (cleanups run last first): the page's
	// events stream stays open as long as the page does.
	t.Cleanup(hs.Close)
	ctx := chromium(t)
	do(t, ctx, 20*time.Second,
		chromedp.Navigate(hs.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pin")),
		chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#network-note")),
	)
	if got := text(t, ctx, "#network-note"); got != web.WeakNetworkNote {
		t.Errorf("note %q, want %q", got, web.WeakNetworkNote)
	}
	if px := eval[float64](t, ctx, `parseFloat(getComputedStyle(document.getElementById('network-note')).fontSize)`); px < 28 {
		t.Errorf("note in %.0f px type, want large (≥ 28 px)", px)
	}
	dests := text(t, ctx, "#dests")
	for _, want := range []string{"抖音：已连接 300 kbps", "视频号：未连接（whip: server answered 401 Unauthorized）"} {
		if !strings.Contains(dests, want) {
			t.Errorf("destinations line %q lacks %q", dests, want)
		}
	}
	reduced.Store(false)
	box.st.Store(firmware.Status{State: state.Live, Since: time.Now()})
	do(t, ctx, 10*time.Second, poll(`document.getElementById('network-note').hidden`))
}
