package console_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// The admin reads the audit log newest first, a page at a time, filtered
// by who, what and when, and exports it; the export is itself logged.
func TestAdminAudit(t *testing.T) { forEachBackend(t, testAdminAudit) }

func testAdminAudit(t *testing.T, e *env) {
	e.addUser("admin", store.RoleAdmin)
	ctx := context.Background()
	day := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC) // 17:00 in Beijing
	for i := range 120 {
		who := []string{"user:王芳", "user:李梅", "box:abc"}[i%3]
		action := []string{"segment.view", "clip.view"}[i%2]
		detail := fmt.Sprintf("n=%d", i)
		if i == 7 {
			detail = "=HYPERLINK(\"http://evil.example\")" // typed by someone, opened in a spreadsheet
		}
		if err := e.st.AppendAudit(ctx, store.AuditEntry{At: day.Add(time.Duration(i) * time.Hour), Actor: who, Action: action, Subject: "s", Detail: detail}); err != nil {
			t.Fatal(err)
		}
	}
	admin := e.signIn("admin")["admin"]
	ns := regexp.MustCompile(`n=(\d+)`)
	shown := func(page string) []string {
		var out []string
		for _, m := range ns.FindAllStringSubmatch(page, -1) {
			out = append(out, m[1])
		}
		return out
	}
	code, page, _ := e.send(admin, "GET", "/console/admin/audit?who=王芳&action=segment.view", nil)
	// 王芳 is i%3 == 0, segment.view is i%2 == 0: i%6 == 0, 20 of them.
	if got := shown(page); code != 200 || len(got) != 20 || got[0] != "114" || got[19] != "0" {
		t.Fatalf("王芳's views: %d %v", code, got)
	}
	// Paging: 50 a page, then the rest, no entry twice or missed.
	_, page, _ = e.send(admin, "GET", "/console/admin/audit?who=box:abc", nil)
	first := shown(page)
	next := regexp.MustCompile(`href="(/console/admin/audit\?[^"]*before=\d+[^"]*)"`).FindStringSubmatch(page)
	if len(first) != 40 || next != nil {
		t.Fatalf("box's entries: %d on the first page, next %v; want all 40 on one", len(first), next)
	}
	_, page, _ = e.send(admin, "GET", "/console/admin/audit?from=2026-11-21&to=2026-11-25", nil)
	first = shown(page)
	next = regexp.MustCompile(`href="(/console/admin/audit\?[^"]*before=\d+[^"]*)"`).FindStringSubmatch(page)
	if len(first) != 50 || next == nil {
		t.Fatalf("five days: %d on the first page, next %v", len(first), next)
	}
	_, page, _ = e.send(admin, "GET", strings.ReplaceAll(next[1], "&amp;", "&"), nil)
	rest := shown(page)
	// Beijing days 21–25 Nov are 20 Nov 16:00 UTC to 25 Nov 16:00 UTC:
	// i from 7 to 126, of 120: i 7..119, 113 entries.
	all := append(first, rest...)
	if len(all) != 50+50 || all[0] != "119" || all[99] != "20" {
		t.Fatalf("five days, two pages: %d entries, %v … %v", len(all), all[:3], all[len(all)-3:])
	}
	// A bad date is said plainly and the filter is kept.
	code, page, _ = e.send(admin, "GET", "/console/admin/audit?who=李梅&from=21/11/2026", nil)
	if code != 400 || !strings.Contains(page, "日期要写成") || !strings.Contains(page, `value="李梅"`) {
		t.Errorf("a bad date: %d\n%s", code, page)
	}

	// The export: every entry picked, newest first, formulas defused.
	code, body, h := e.send(admin, "GET", "/console/admin/audit.csv?who=王芳", nil)
	if code != 200 || h.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("export: %d %q %q", code, h.Get("Content-Type"), h.Get("Content-Disposition"))
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix([]byte(body), []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+40 || rows[1][5] != "n=117" || rows[40][5] != "n=0" || rows[1][2] != "user:王芳" {
		t.Fatalf("export: %d rows, %v … %v", len(rows), rows[1], rows[len(rows)-1])
	}
	_, body, _ = e.send(admin, "GET", "/console/admin/audit.csv?action=clip.view", nil)
	rows, err = csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff"))).ReadAll()
	if err != nil || !strings.Contains(body, `'=HYPERLINK(`) {
		t.Errorf("the typed formula is not defused (%v):\n%s", err, body)
	}
	for _, r := range rows {
		for _, cell := range r {
			if strings.HasPrefix(cell, "=") {
				t.Errorf("a cell a spreadsheet would run: %q", cell)
			}
		}
	}
	// More than one batch of the export (1000) arrives whole.
	for i := range 1100 {
		if err := e.st.AppendAudit(ctx, store.AuditEntry{At: day, Actor: "box:many", Action: "segment.received", Subject: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	_, body, _ = e.send(admin, "GET", "/console/admin/audit.csv?who=box:many", nil)
	if rows, err := csv.NewReader(strings.NewReader(body)).ReadAll(); err != nil || len(rows) != 1101 {
		t.Errorf("export of 1100: %d rows %v", len(rows), err)
	}
	es, err := e.st.AuditPage(ctx, store.AuditFilter{Actor: "user:admin", Action: "audit.export", Limit: 10})
	if err != nil || len(es) != 3 || !strings.Contains(es[2].Detail, `filter="who=%E7%8E%8B%E8%8A%B3"`) {
		t.Errorf("exports in the log: %+v %v", es, err)
	}
}

// The admin adds an account (the password shows once and works), refuses
// a taken name plainly, and gives a box to a social worker.
func TestAdminUsers(t *testing.T) { forEachBackend(t, testAdminUsers) }

func testAdminUsers(t *testing.T, e *env) {
	e.addUser("admin", store.RoleAdmin)
	e.addUser("王芳", store.RoleSocial)
	e.addUser("trainer", store.RoleTrainer)
	boxA := e.addBox("雷山 村A", "王芳")
	admin := e.signIn("admin")["admin"]
	code, page, _ := e.send(admin, "POST", "/console/admin/users", url.Values{"name": {"李梅"}, "role": {store.RoleSocial, store.RoleTrainer}})
	m := regexp.MustCompile(`<code id="new-password">([^<]+)</code>`).FindStringSubmatch(page)
	if code != 200 || m == nil {
		t.Fatalf("add 李梅: %d\n%s", code, page)
	}
	u, err := e.st.User(context.Background(), "李梅")
	if err != nil || !u.Has(store.RoleSocial) || !u.Has(store.RoleTrainer) || u.Has(store.RoleAdmin) {
		t.Fatalf("李梅 as stored: %+v %v", u, err)
	}
	c := client(t)
	resp, err := c.PostForm(e.base+"/console/login", url.Values{"name": {"李梅"}, "password": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("李梅 signs in with the shown password: %d", resp.StatusCode)
	}
	// Shown once: the list does not show it again.
	if _, page, _ := e.send(admin, "GET", "/console/admin/users", nil); strings.Contains(page, m[1]) || !strings.Contains(page, "李梅") {
		t.Errorf("the users page shows the password again, or not 李梅")
	}
	for _, bad := range []struct {
		name string
		form url.Values
		want int
		says string
	}{
		{"a taken name", url.Values{"name": {"李梅"}, "role": {store.RoleSocial}}, 409, "已经有叫"},
		{"no role", url.Values{"name": {"张丽"}}, 400, "至少选一个"},
		{"an unknown role", url.Values{"name": {"张丽"}, "role": {"root"}}, 400, "至少选一个"},
		{"no name", url.Values{"name": {" "}, "role": {store.RoleSocial}}, 400, "名字要写"},
		{"a name over two lines", url.Values{"name": {"张\n丽"}, "role": {store.RoleSocial}}, 400, "名字要写"},
		{"a name too long", url.Values{"name": {strings.Repeat("丽", 65)}, "role": {store.RoleSocial}}, 400, "名字要写"},
	} {
		code, page, _ := e.send(admin, "POST", "/console/admin/users", bad.form)
		if code != bad.want || !strings.Contains(page, bad.says) || strings.Contains(page, "new-password") {
			t.Errorf("add, %s: %d, want %d saying %q", bad.name, code, bad.want, bad.says)
		}
	}
	if _, err := e.st.User(context.Background(), "张丽"); err == nil {
		t.Errorf("a refused account was added")
	}
	// Assign: to a social worker only.
	if code, _, _ := e.send(admin, "POST", "/console/admin/assign", url.Values{"box": {boxA}, "to": {"trainer"}}); code != 400 {
		t.Errorf("assign to a trainer: %d", code)
	}
	if code, _, _ := e.send(admin, "POST", "/console/admin/assign", url.Values{"box": {strings.Repeat("a", 32)}, "to": {"李梅"}}); code != 404 {
		t.Errorf("assign an unknown box: %d", code)
	}
	if code, _, h := e.send(admin, "POST", "/console/admin/assign", url.Values{"box": {boxA}, "to": {"李梅"}}); code != 303 || h.Get("Location") != "/console/admin/users?msg=assigned" {
		t.Errorf("assign: %d", code)
	}
	if w, _ := e.st.Worker(context.Background(), boxA); w != "李梅" {
		t.Errorf("box A's worker: %q", w)
	}
	es, _ := e.st.AuditPage(context.Background(), store.AuditFilter{Actor: "user:admin", Limit: 100})
	var acts []string
	for _, a := range es {
		acts = append(acts, a.Action+" "+a.Subject)
	}
	for _, want := range []string{"user.add 李梅", "box.assign " + boxA, "users.view "} {
		found := false
		for _, a := range acts {
			found = found || a == want
		}
		if !found {
			t.Errorf("audit lacks %q: %q", want, acts)
		}
	}
}
