package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
)

// The phone page says, quietly in its footer, what waits for the review
// service and why: here a service nobody answers at (a closed port).
func TestUploadNoteInChromium(t *testing.T) {
	dir := t.TempDir()
	store, err := flagged.Open(flagged.Config{Dir: filepath.Join(dir, "flagged")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(flagged.Segment{Reason: flagged.ReasonMark, At: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	// A port that was just free: connections to it are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/"
	ln.Close()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	u, err := upload.New(upload.Config{URL: dead, Key: key, Dir: filepath.Join(dir, "upload"), Source: store,
		MinBackoff: time.Second, MaxBackoff: time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go u.Run(ctx)

	v := hw.NewVirtual(nil)
	fb, err := firmware.NewBox(firmware.Options{Pipeline: &deskPipeline{calls: map[string]int{}}, LED: v.LED, Ring: v.Ring, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	go fb.Run(ctx)
	srv, err := web.New(web.Options{Box: fb, PIN: testPIN, StatusInterval: 200 * time.Millisecond, Logger: testLogger(t),
		Details: func() web.Details { return web.Details{UploadNote: u.Status().Summary()} }})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	bctx := chromium(t)
	do(t, bctx, 30*time.Second,
		chromedp.Navigate(hs.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pin")),
		chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#app")),
		poll(`document.getElementById('upload-note').textContent === '📤 有 1 段等上传（网络不通）'`),
	)
}
