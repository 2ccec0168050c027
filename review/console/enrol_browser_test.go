package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/review/store"
)

// A trainer adds a new box in Chromium. On her phone (touch, 412×915) she
// first picks a photo with no QR in it: the page says so and keeps the
// name she typed; then the screenshot of the box's phone page, and sees
// the box added with the fingerprint the box shows. On a laptop she pastes
// the box's identity instead (and once more on PostgreSQL).
func TestEnrolInChromium(t *testing.T) {
	shotFile, err := filepath.Abs(boxPageShot)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, backend string
		w, h          int
		photo         bool
	}{{"phone-screenshot", "sqlite", 412, 915, true}, {"laptop-paste", "sqlite", 1366, 768, false}, {"laptop-paste-postgres", "postgres", 1366, 768, false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvOn(t, tc.backend)
			e.addUser("杨老师", store.RoleTrainer)
			ctx := chromium(t, tc.w, tc.h)
			if tc.w < 500 {
				do(t, ctx, 10*time.Second, chromedp.EmulateViewport(int64(tc.w), int64(tc.h),
					chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2.625)))
			}
			noSideways := func(page string) {
				t.Helper()
				if w := eval[float64](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
					shot(t, ctx, "enrol-"+tc.name+"-"+page)
					t.Errorf("%s page scrolls sideways by %.0f px at %d×%d", page, w, tc.w, tc.h)
				}
			}
			// Her way in: the box list on the phone, the setup page on the
			// laptop.
			entry := `a[href="/console/boxes"]`
			if !tc.photo {
				entry = `a[href="/console/provision"]`
			}
			do(t, ctx, 30*time.Second,
				chromedp.Navigate(e.base+"/console/login"),
				chromedp.WaitVisible(chromedp.CSS("#name")),
				chromedp.SendKeys(chromedp.CSS("#name"), "杨老师"),
				chromedp.SendKeys(chromedp.CSS("#password"), password),
				chromedp.Click(chromedp.CSS("#login")),
				chromedp.WaitVisible(chromedp.CSS(entry)),
				chromedp.Click(chromedp.CSS(entry)),
				chromedp.WaitVisible(chromedp.CSS("#enrol-link")),
				chromedp.Click(chromedp.CSS("#enrol-link")),
				chromedp.WaitVisible(chromedp.CSS("#enrol-form")),
			)
			shot(t, ctx, "enrol-"+tc.name+"-form")
			noSideways("form")
			if got := eval[string](t, ctx, `document.getElementById('photo-camera').getAttribute('capture')`); got != "environment" {
				t.Errorf("the camera picker has capture=%q, want environment", got)
			}
			if tc.photo {
				bad := filepath.Join(t.TempDir(), "ji.png")
				if err := os.WriteFile(bad, testPNG(t), 0o644); err != nil {
					t.Fatal(err)
				}
				do(t, ctx, 30*time.Second,
					chromedp.SendKeys(chromedp.CSS("#boxname"), "榕江 杨阿姨"),
					chromedp.SetUploadFiles(chromedp.CSS("#photo"), []string{bad}),
					chromedp.Click(chromedp.CSS("#enrol")),
					chromedp.WaitVisible(chromedp.CSS("#enrol-error")),
				)
				if msg := textOf(t, ctx, "#enrol-error"); !strings.Contains(msg, "照片里没找到二维码") {
					t.Errorf("error %q", msg)
				}
				if name := eval[string](t, ctx, `document.getElementById('boxname').value`); name != "榕江 杨阿姨" {
					t.Fatalf("the name she typed became %q", name)
				}
				shot(t, ctx, "enrol-"+tc.name+"-error")
				noSideways("error")
				do(t, ctx, 60*time.Second,
					chromedp.SetUploadFiles(chromedp.CSS("#photo"), []string{shotFile}),
					chromedp.Click(chromedp.CSS("#enrol")),
					chromedp.WaitVisible(chromedp.CSS("#enrolled")),
				)
			} else {
				do(t, ctx, 30*time.Second,
					chromedp.SendKeys(chromedp.CSS("#key"), bundle.EnrolText(mustKey(t, shotKey))),
					chromedp.SendKeys(chromedp.CSS("#boxname"), "榕江 杨阿姨"),
					chromedp.Click(chromedp.CSS("#enrol")),
					chromedp.WaitVisible(chromedp.CSS("#enrolled")),
				)
			}
			shot(t, ctx, "enrol-"+tc.name+"-done")
			noSideways("done")
			if fp := textOf(t, ctx, "#fingerprint"); fp != shotFingerprint {
				t.Errorf("fingerprint shown %q, want %s", fp, shotFingerprint)
			}
			if msg := textOf(t, ctx, "#enrol-msg"); !strings.Contains(msg, "🟢") || !strings.Contains(msg, "榕江 杨阿姨") {
				t.Errorf("message %q", msg)
			}
			// The box list has it.
			do(t, ctx, 30*time.Second,
				chromedp.Click(chromedp.CSS(`#enrolled a[href="/console/boxes"]`)),
				chromedp.WaitVisible(chromedp.CSS("#boxes")),
			)
			if list := textOf(t, ctx, "#boxes"); !strings.Contains(list, "榕江 杨阿姨") {
				t.Errorf("box list %q lacks the new box", list)
			}
		})
	}
}

func textOf(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	return eval[string](t, ctx, `document.querySelector(`+strconv.Quote(css)+`).textContent`)
}
