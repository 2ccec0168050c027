package app_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
)

// The full SD card on her phone: one large plain sentence while it lasts,
// gone when it is over, and her buttons stay on screen meanwhile.
func TestStorageNoteInChromium(t *testing.T) {
	for _, size := range phoneSizes {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			v := hw.NewVirtual(nil)
			pl := &deskPipeline{calls: map[string]int{}, visible: true}
			fb, err := firmware.NewBox(firmware.Options{Pipeline: pl, LED: v.LED, Ring: v.Ring, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); _ = fb.Run(ctx) }()
			var note atomic.Value
			note.Store("")
			srv, err := web.New(web.Options{Box: fb, PIN: testPIN, StatusInterval: 200 * time.Millisecond,
				Logger: testLogger(t),
				Details: func() web.Details {
					return web.Details{Card: pl.webCard(), Captions: web.Captions{On: true}, StorageNote: note.Load().(string)}
				}})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(srv)
			t.Cleanup(func() { hs.Close(); cancel(); <-done })

			bctx := chromium(t)
			do(t, bctx, 20*time.Second,
				chromedp.EmulateViewport(size.w, size.h, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch),
				chromedp.Navigate(hs.URL+"/"),
				chromedp.WaitVisible(chromedp.CSS("#pin")),
				chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
				chromedp.Click(chromedp.CSS("#login-button")),
				chromedp.WaitVisible(chromedp.CSS("#app")),
			)
			if err := fb.Post(state.BigShort, ""); err != nil {
				t.Fatal(err)
			}
			do(t, bctx, 10*time.Second, poll(`document.getElementById('state-label').textContent === '直播中'`))
			if !eval[bool](t, bctx, `document.getElementById('storage-note').hidden`) {
				t.Error("a storage note shows while the card is fine")
			}

			note.Store(app.StorageFullNote)
			fb.StorageNotice(app.StorageFullNote)
			do(t, bctx, 5*time.Second, poll(`!document.getElementById('storage-note').hidden`))
			if got := text(t, bctx, "#storage-note"); got != "💾 "+app.StorageFullNote {
				t.Errorf("storage note %q", got)
			}
			if px := eval[float64](t, bctx, `parseFloat(getComputedStyle(document.getElementById('storage-note')).fontSize)`); px < 22 {
				t.Errorf("storage note in %v px type, want large", px)
			}
			if r, ok := onScreen(t, bctx, "#storage-note"); !ok {
				t.Errorf("the storage note is not on screen without scrolling (%+v)", r)
			}
			checkHerView(t, bctx, "card full")
			screenshot(t, bctx, fmt.Sprintf("cunbo-phone-%dx%d-card-full", size.w, size.h))

			note.Store("")
			do(t, bctx, 5*time.Second, poll(`document.getElementById('storage-note').hidden`))
		})
	}
}
