package console

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The audit page's filter, whatever the query string: no panic; a filter
// is either refused with words for the admin or is one the store can run
// (a person typed gets the user: prefix, dates in order, a page cursor
// only when given and positive).
func FuzzAuditQuery(f *testing.F) {
	for _, q := range []string{"", "who=王芳&action=clip.view&from=2026-11-21&to=2026-11-25", "who=box:abc&before=120",
		"from=2026-11-25&to=2026-11-21", "before=-1", "from=21/11/2026", "who=cli", "to=2026-02-30", "before=99999999999999999999"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/console/admin/audit", nil)
		r.URL.RawQuery = raw
		q, msg := readAuditQuery(r)
		fl, fmsg := q.filter(auditPageSize + 1)
		if msg != "" || fmsg != "" {
			return
		}
		v, _ := url.ParseQuery(raw)
		who := strings.TrimSpace(v.Get("who"))
		if (who == "") != (fl.Actor == "") || (who != "" && !strings.HasSuffix(fl.Actor, who)) {
			t.Fatalf("who %q became actor %q", who, fl.Actor)
		}
		if !fl.From.IsZero() && !fl.To.IsZero() && !fl.From.Before(fl.To) {
			t.Fatalf("from %v not before to %v", fl.From, fl.To)
		}
		if fl.Before < 0 || (fl.Before > 0) != (v.Get("before") != "") {
			t.Fatalf("before %q became %d", v.Get("before"), fl.Before)
		}
		if fl.Limit != auditPageSize+1 {
			t.Fatalf("limit %d", fl.Limit)
		}
	})
}
