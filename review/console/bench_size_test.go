package console_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/consoletest"
)

// pageBudget is issue 14's bound on a page's own scripts and styles: the
// console is used over a slow county link.
const pageBudget = 150 << 10

var (
	assetRe  = regexp.MustCompile(`(?:src|href)="(/console/static/[^"?#]+)[^"]*"`)
	inlineRe = regexp.MustCompile(`(?s)<(script|style)\b[^>]*>(.*?)</(?:script|style)>`)
	cssURLRe = regexp.MustCompile(`url\(\s*['"]?([^'")]+)['"]?\s*\)`)
)

// What the browser downloads for the queue and for a moment, apart from
// the clip: the static files a page names (and those its styles name),
// and its inline scripts and styles, are within pageBudget. The HTML
// itself is reported beside them: a full queue (500 rows) is the largest.
func TestPageWeight(t *testing.T) {
	spec := consoletest.Spec{Workers: 1, Women: 5, Segments: 2000, Days: 60, UndecidedDays: 3, Seed: 2, Now: time.Now()}
	r := newBenchRig(t, consoletest.SQLite(t), spec)
	w := r.data.Workers[0]
	u := r.users[w]
	first := r.data.New[w][0]
	for _, tc := range []struct{ name, path string }{
		{"queue", "/console/"},
		{"moment", "/console/m/" + first.BoxID + "/" + first.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := r.get(u, tc.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: %d", tc.path, rec.Code)
			}
			html := rec.Body.String()
			own, seen := 0, map[string]bool{}
			var fetch func(path string)
			fetch = func(path string) {
				if seen[path] {
					return
				}
				seen[path] = true
				rec := r.get(u, path)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s names %s: %d", tc.path, path, rec.Code)
				}
				own += rec.Body.Len()
				if strings.HasSuffix(path, ".css") {
					for _, m := range cssURLRe.FindAllStringSubmatch(rec.Body.String(), -1) {
						if ref := m[1]; !strings.HasPrefix(ref, "data:") {
							fetch(resolve(path, ref))
						}
					}
				}
			}
			for _, m := range assetRe.FindAllStringSubmatch(html, -1) {
				fetch(m[1])
			}
			if len(seen) == 0 {
				t.Fatalf("%s names no script or style of its own:\n%s", tc.path, html)
			}
			inline := 0
			for _, m := range inlineRe.FindAllStringSubmatch(html, -1) {
				inline += len(m[2])
			}
			t.Logf("%s: %d files %d bytes, inline %d bytes; the HTML %d bytes", tc.name, len(seen), own, inline, len(html))
			if own+inline > pageBudget {
				t.Errorf("%s: scripts and styles %d bytes (files %v, inline %d), over %d", tc.name, own+inline, keys(seen), inline, pageBudget)
			}
		})
	}
}

// resolve makes ref (from the file at path) a path on the console.
func resolve(path, ref string) string {
	if strings.HasPrefix(ref, "/") {
		return ref
	}
	return path[:strings.LastIndex(path, "/")+1] + ref
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
