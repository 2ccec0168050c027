package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/internal/browsertest"
)

// chromium starts headless Chromium as a portrait phone that offers plain
// host candidates instead of mDNS names, as a phone on the LAN resolving
// .local would (the box only answers).
func chromium(t testing.TB) context.Context {
	t.Helper()
	return browsertest.Chromium(t,
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.WindowSize(412, 915))
}

func do(t testing.TB, ctx context.Context, d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("chromium: %v", err)
	}
}

func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("chromium: evaluate %s: %v", expr, err)
	}
	return v
}

func text(t testing.TB, ctx context.Context, css string) string {
	t.Helper()
	return eval[string](t, ctx, `document.querySelector(`+"`"+css+"`"+`).textContent`)
}

func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond))
}

type playback struct {
	Width  int `json:"width"`
	Frames int `json:"frames"`
}

const playbackJS = `(() => { const v = document.getElementById('preview');
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {totalVideoFrames: 0};
  return {width: v.videoWidth, frames: q.totalVideoFrames}; })()`

// The phone page in a real browser: PIN first, then the live WebRTC
// preview plays, an injected warning appears quietly, the big button goes
// live, and a tap on 下一个 changes the card the RTMP viewers get.
func TestPhonePageInChromium(t *testing.T) {
	b := startBox(t)
	ctx := chromium(t)

	do(t, ctx, 20*time.Second,
		chromedp.Navigate(b.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pin")),
	)
	if !eval[bool](t, ctx, `!document.getElementById('login').hidden && document.getElementById('app').hidden`) {
		t.Fatal("without a session the page must ask for the PIN and hide the controls")
	}
	do(t, ctx, 10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#pin"), "1111"),
		chromedp.Click(chromedp.CSS("#login-button")),
		poll(`document.getElementById('login-error').textContent.length > 0`),
	)
	if msg := text(t, ctx, "#login-error"); !strings.Contains(msg, "密码不对") {
		t.Fatalf("wrong PIN message %q", msg)
	}
	eval[chromedp.Void](t, ctx, `document.getElementById('pin').value = ''`)
	do(t, ctx, 10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#app")),
		poll(`document.getElementById('state-label').textContent === '未开播'`),
	)

	// The preview plays: a picture of the box's size, frames decoding.
	do(t, ctx, 20*time.Second, poll(playbackJS+`.width > 0 && `+playbackJS+`.frames > 0`))
	p1 := eval[playback](t, ctx, playbackJS)
	time.Sleep(time.Second)
	p2 := eval[playback](t, ctx, playbackJS)
	t.Logf("preview %dpx wide, %d → %d decoded frames in 1 s", p1.Width, p1.Frames, p2.Frames)
	if p1.Width != 720 || p2.Frames-p1.Frames < 10 {
		t.Fatalf("preview width %d (want 720), frames %d → %d (want ≥ 10 more in 1 s)", p1.Width, p1.Frames, p2.Frames)
	}

	// A compliance warning shows in the warnings area, not over the video.
	b.app.Web.PublishWarning(web.WarningCard{Said: "这个辣椒酱是全国第一好吃的", Match: "全国第一", Category: "absolute",
		CategoryName: "绝对化用语", Explain: "不能说“第一”“最好”", Suggest: "这个辣椒酱很多老顾客回购", Law: "《广告法》第九条"})
	do(t, ctx, 10*time.Second, chromedp.WaitVisible(chromedp.CSS("#warnings li")))
	warningText := text(t, ctx, "#warnings")
	for _, want := range []string{"全国第一", "绝对化用语", "可以这样说：这个辣椒酱很多老顾客回购", "广告法"} {
		if !strings.Contains(warningText, want) {
			t.Errorf("warning shows %q, missing %q", warningText, want)
		}
	}
	if eval[bool](t, ctx, `(() => { const w = document.querySelector('#warnings li').getBoundingClientRect();
		  const v = document.getElementById('preview-box').getBoundingClientRect();
		  return w.top < v.bottom && w.bottom > v.top; })()`) {
		t.Error("the warning covers the preview")
	}

	// Go live from the page, then next card.
	do(t, ctx, 30*time.Second,
		chromedp.Click(chromedp.CSS("#btn-big")),
		poll(`document.getElementById('state-label').textContent === '直播中'`),
	)
	if st := b.app.Box.Status().State; st != state.Live {
		t.Fatalf("box state %s after tapping 开播", st)
	}
	do(t, ctx, 20*time.Second,
		chromedp.Click(chromedp.CSS("#btn-next")),
		poll(`document.getElementById('card').dataset.index === '1'`),
	)
	cardName := text(t, ctx, "#card-name")
	c := b.pl.Card()
	if c.Index != 1 || !c.Visible || cardName != c.Name {
		t.Fatalf("pipeline card %+v, page shows %q", c, cardName)
	}
	// A viewer pulling from nginx now sees the new card. Under load the
	// path (transition, encoder, publisher queue, nginx) can lag a
	// moment, so look again a few times before calling it wrong.
	deadline := time.Now().Add(15 * time.Second)
	for {
		f := grabRTMPFrame(t, b.ngx.URL("box"), 720, 1280)
		got, mismatch := b.pl.Compositor().Identify(f)
		if got == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the RTMP receiver sees card %d (mismatch %.1f), want card 1", got, mismatch)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Ending takes a 3 s hold, like the physical button: a tap does not.
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#btn-big")))
	time.Sleep(500 * time.Millisecond)
	// Still on air (a loaded machine may have made the link degraded
	// meanwhile: that is the pipeline, not the tap).
	if st := b.app.Box.Status().State; st != state.Live && st != state.Degraded && st != state.Reconnecting {
		t.Fatalf("a tap while live changed the box to %s", st)
	}
	// Held with the mouse for 3.5 s, released; the release must not
	// start the live again (TestBigButtonGesturesInChromium).
	press(t, ctx, "#btn-big", false, 3500*time.Millisecond)
	// Ending waits for the publisher's polite close.
	do(t, ctx, 45*time.Second, poll(`document.getElementById('state-label').textContent === '未开播'`))
	if st := b.app.Box.Status().State; st != state.Idle {
		t.Fatalf("box %s after holding 下播", st)
	}
}
