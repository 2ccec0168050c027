package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/review/store"
)

// A trainer uploads a GBK CSV with a bad row and a photo, sees the cards
// the box will draw and the row's problem, fills in the rest and publishes
// a bundle for a box; on a phone no page scrolls sideways.
func TestProvisionInChromium(t *testing.T) {
	for _, size := range []struct {
		name string
		w, h int
	}{{"laptop", 1366, 768}, {"phone", 360, 640}} {
		t.Run(size.name, func(t *testing.T) {
			sg := newSigning(t)
			e, _ := newProvisionEnv(t, "sqlite", sg.console)
			e.addUser("杨老师", store.RoleTrainer)
			e.addUser("sw", store.RoleSocial)
			boxA := e.addBox("三江 村A 杨阿姨", "sw")
			e.addBox("三江 村B", "sw")
			dir := t.TempDir()
			csv, photo := filepath.Join(dir, "榕江商品.csv"), filepath.Join(dir, "ji.png")
			if err := os.WriteFile(csv, gbkCatalogue(t), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(photo, testPNG(t), 0o644); err != nil {
				t.Fatal(err)
			}

			ctx := chromium(t, size.w, size.h)
			noSideways := func(page string) {
				t.Helper()
				if w := eval[float64](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
					shot(t, ctx, "provision-"+size.name+"-"+page)
					t.Errorf("%s page scrolls sideways by %.0f px at %d×%d", page, w, size.w, size.h)
				}
			}
			do(t, ctx, 30*time.Second,
				chromedp.Navigate(e.base+"/console/login"),
				chromedp.WaitVisible(chromedp.CSS("#name")),
				chromedp.SendKeys(chromedp.CSS("#name"), "杨老师"),
				chromedp.SendKeys(chromedp.CSS("#password"), password),
				chromedp.Click(chromedp.CSS("#login")),
				chromedp.WaitVisible(chromedp.CSS(`a[href="/console/provision"]`)),
				chromedp.Click(chromedp.CSS(`a[href="/console/provision"]`)),
				chromedp.WaitVisible(chromedp.CSS("#upload-form")),
			)
			noSideways("upload")
			do(t, ctx, 60*time.Second,
				chromedp.SetUploadFiles(chromedp.CSS("#catalogue"), []string{csv}),
				chromedp.SetUploadFiles(chromedp.CSS("#photos"), []string{photo}),
				chromedp.Click(chromedp.CSS("#upload")),
				chromedp.WaitVisible(chromedp.CSS("#cards")),
				poll(`(() => { const i = document.querySelector('#cards img'); return i && i.complete && i.naturalWidth > 300 })()`),
			)
			shot(t, ctx, "provision-"+size.name+"-cards")
			noSideways("cards")
			if n := eval[float64](t, ctx, `document.querySelectorAll('#cards img').length`); n != 2 {
				t.Errorf("%v card pictures, want 2 (row 3 has no price)", n)
			}
			if w := eval[float64](t, ctx, `document.querySelector('#cards img').getBoundingClientRect().right - window.innerWidth`); w > 0 {
				t.Errorf("the card picture sticks out of the screen by %.0f px", w)
			}
			rows := eval[string](t, ctx, `document.getElementById('row-problems').innerText`)
			if !strings.Contains(rows, "第3行") || !strings.Contains(rows, "价格") {
				t.Errorf("row problems %q lack row 3's price", rows)
			}
			cards := eval[string](t, ctx, `document.getElementById('cards').innerText`)
			for _, want := range []string{"第2行", "榕江小香鸡", "第4行", "古州香米"} {
				if !strings.Contains(cards, want) {
					t.Errorf("cards %q lack %q", cards, want)
				}
			}

			// The box's checkbox is big and its whole row takes the tap.
			box := eval[[]float64](t, ctx, `(() => { const i = document.querySelector('#boxes input[type=checkbox]'), r = i.getBoundingClientRect(),
				l = i.closest('label').getBoundingClientRect(); return [r.width, r.height, l.width, l.height]; })()`)
			if box[0] < 24 || box[1] < 24 || box[3] < 44 || box[2] < 200 {
				t.Errorf("the box checkbox is %.0f×%.0f px in a %.0f×%.0f px row, want ≥ 24 px in a row ≥ 44 px tall", box[0], box[1], box[2], box[3])
			}
			// Sent without a box: refused, on the draft page by GET, with
			// what she typed; a reload sends nothing again.
			do(t, ctx, 60*time.Second,
				chromedp.SendKeys(chromedp.CSS("#douyin_url"), "rtmp://push-rtmp-l1.douyincdn.com/stage"),
				chromedp.SendKeys(chromedp.CSS("#wifi_ssid"), "杨家小卖部"),
				chromedp.Click(chromedp.CSS("#publish")),
			)
			waitFor(t, ctx, 30*time.Second, `location.search === '?refused=1' && document.readyState === 'complete' && !!document.getElementById('build-error')`)
			noSideways("refused")
			audits := countAudit(t, e, "provision.preview")
			do(t, ctx, 30*time.Second, chromedp.Reload())
			waitFor(t, ctx, 30*time.Second, `document.readyState === 'complete' && !!document.getElementById('build-error')`)
			if n := countAudit(t, e, "provision.preview"); n != audits+1 {
				t.Errorf("the reload was not one more look at the draft (%d → %d previews)", audits, n)
			}
			got := eval[[]string](t, ctx, `[location.pathname, document.getElementById('build-error').innerText,
				document.getElementById('douyin_url').value, document.getElementById('wifi_ssid').value]`)
			if !strings.HasPrefix(got[0], "/console/provision/d/") || !strings.Contains(got[1], "请至少选一个盒子") ||
				got[2] != "rtmp://push-rtmp-l1.douyincdn.com/stage" || got[3] != "杨家小卖部" {
				t.Errorf("after the refusal and a reload: %q", got)
			}
			do(t, ctx, 60*time.Second,
				chromedp.SendKeys(chromedp.CSS("#douyin_key"), testStreamKey),
				chromedp.SendKeys(chromedp.CSS("#wifi_password"), testWiFiPass),
				chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
				// A tap on the box's name ticks it.
				chromedp.Click(chromedp.CSS(`#boxes input[value="`+boxA+`"] ~ .subject`)),
				chromedp.Click(chromedp.CSS("#publish")),
				chromedp.WaitVisible(chromedp.CSS("#provision-msg")),
			)
			shot(t, ctx, "provision-"+size.name+"-published")
			noSideways("published")
			pb, err := e.st.LatestBundle(context.Background(), boxA)
			if err != nil || pb.Size == 0 {
				t.Fatalf("box A's bundle after publishing: %+v %v", pb, err)
			}
			if _, err := e.st.LatestBundle(context.Background(), e.boxes["三江 村B"].id); err == nil {
				t.Error("box B got a bundle it was not picked for")
			}
		})
	}
}
