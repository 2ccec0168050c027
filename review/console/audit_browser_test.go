package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/review/store"
)

// The admin's audit log in Chromium, on a phone and a laptop: signs in,
// filters, pages; long entries wrap and nothing scrolls sideways.
func TestAuditInChromium(t *testing.T) {
	for _, size := range []struct {
		name string
		w, h int
	}{{"phone", 360, 640}, {"laptop", 1366, 768}} {
		t.Run(size.name, func(t *testing.T) {
			e := newEnv(t)
			e.addUser("管理员老张", store.RoleAdmin)
			ctx := context.Background()
			now := time.Now()
			for i := range 60 {
				detail := "from=192.168.1.23"
				if i == 59 { // the newest: one long unbroken detail
					detail = "sha256=" + strings.Repeat("9f86d081884c7d65", 8) + " from=192.168.1.23"
				}
				if err := e.st.AppendAudit(ctx, store.AuditEntry{At: now.Add(time.Duration(i-60) * time.Minute), Actor: "user:王芳",
					Action: "segment.view", Subject: strings.Repeat("a", 32) + "/20261128T093000000Z-1a1b2c3d", Detail: detail}); err != nil {
					t.Fatal(err)
				}
			}
			b := chromium(t, size.w, size.h)
			do(t, b, 30*time.Second,
				chromedp.Navigate(e.base+"/console/login"),
				chromedp.WaitVisible(chromedp.CSS("#name")),
				chromedp.SendKeys(chromedp.CSS("#name"), "管理员老张"),
				chromedp.SendKeys(chromedp.CSS("#password"), password),
				chromedp.Click(chromedp.CSS("#login")),
			)
			waitFor(t, b, 30*time.Second, `location.pathname === '/console/' && document.readyState === 'complete'`)
			// The header leads to the log.
			do(t, b, 30*time.Second,
				chromedp.Click(chromedp.CSS(`a.navlink[href="/console/admin/audit"]`)),
			)
			waitFor(t, b, 30*time.Second, `location.pathname === '/console/admin/audit' && !!document.querySelector('#audit li')`)
			noSideways := func(what string) {
				t.Helper()
				if got := eval[int](t, b, `innerWidth`); got != size.w {
					t.Fatalf("viewport %d px wide, want %d", got, size.w)
				}
				if sw := eval[int](t, b, `document.documentElement.scrollWidth`); sw > size.w {
					t.Errorf("%s at %dx%d: the page is %d px wide, scrolls sideways", what, size.w, size.h, sw)
				}
			}
			shot(t, b, size.name+"-audit")
			noSideways("the audit log")
			if n := eval[int](t, b, `document.querySelectorAll('#audit li').length`); n != 50 {
				t.Errorf("%d entries on the first page, want 50", n)
			}
			first := eval[string](t, b, `document.querySelector('#audit li').innerText`)
			if !strings.Contains(first, "user.login") { // her sign-in; this view is logged after the page was read
				t.Errorf("newest entry first: %q", first)
			}
			// Filter by who, with the keyboard; then the next page.
			do(t, b, 30*time.Second,
				chromedp.Click(chromedp.CSS(`details summary`)),
				chromedp.WaitVisible(chromedp.CSS(`input[name=who]`)),
				chromedp.SendKeys(chromedp.CSS(`input[name=who]`), "王芳"),
				chromedp.Click(chromedp.CSS("#filter")),
			)
			waitFor(t, b, 30*time.Second, `location.search.includes('who=') && document.readyState === 'complete'`)
			if got := eval[string](t, b, `document.querySelector('#audit li').innerText`); !strings.Contains(got, "9f86d081") || !strings.Contains(got, "user:王芳") {
				t.Errorf("first of 王芳's entries: %q", got)
			}
			noSideways("王芳's entries")
			do(t, b, 30*time.Second, chromedp.Click(chromedp.CSS("#older")))
			waitFor(t, b, 30*time.Second, `location.search.includes('before=') && document.readyState === 'complete'`)
			if n := eval[int](t, b, `document.querySelectorAll('#audit li').length`); n != 10 {
				t.Errorf("%d of 王芳's entries on the second page, want 10", n)
			}
			shot(t, b, size.name+"-audit-older")
			noSideways("the second page")
			// The users page too.
			do(t, b, 30*time.Second, chromedp.Navigate(e.base+"/console/admin/users"), chromedp.WaitVisible(chromedp.CSS("#add-user")))
			noSideways("the users page")
		})
	}
}
