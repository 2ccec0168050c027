package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// access is the authorisation table: every endpoint, every role, own and
// other caseload, without a session, with a box's token instead of one,
// without or with a wrong CSRF token, from another site, and clip paths
// that try to leave the blob store.
func TestAccess(t *testing.T) { forEachBackend(t, testAccess) }

func testAccess(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	e.addUser("sw-b", store.RoleSocial)
	e.addUser("trainer", store.RoleTrainer)
	e.addUser("admin", store.RoleAdmin)
	e.addUser("both", store.RoleSocial, store.RoleTrainer)
	boxA := e.addBox("雷山 村A", "sw-a")
	e.addBox("雷山 村B", "sw-b")
	mp4 := clip(t, 2)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	idA, tarA := segmentTar(t, 1, at, mp4)
	e.upload("雷山 村A", idA, tarA)
	idB, tarB := segmentTar(t, 2, at, mp4)
	e.upload("雷山 村B", idB, tarB)
	boxB := e.boxes["雷山 村B"].id

	type sess struct {
		c    *http.Client
		csrf string
	}
	users := []string{"sw-a", "sw-b", "trainer", "admin", "both", ""}
	sessions := map[string]sess{}
	for _, u := range users {
		c := client(t)
		if u != "" {
			sessions[u] = sess{c, e.login(c, u)}
		} else {
			sessions[u] = sess{c, ""}
		}
	}
	momentA, clipA := "/console/m/"+boxA+"/"+idA, "/console/clip/"+boxA+"/"+idA
	decideA := url.Values{"box": {boxA}, "id": {idA}, "state": {store.StateReal}}
	// want: status per user, in the order of users.
	tests := []struct {
		name   string
		method string
		path   string
		form   url.Values
		want   []int
	}{
		{"queue", "GET", "/console/", nil, []int{200, 200, 200, 200, 200, 303}},
		{"moment of A", "GET", momentA, nil, []int{200, 404, 403, 403, 404, 303}},
		{"moment of B", "GET", "/console/m/" + boxB + "/" + idB, nil, []int{404, 200, 403, 403, 404, 303}},
		{"clip of A", "GET", clipA, nil, []int{200, 404, 403, 403, 404, 401}},
		{"decide on A", "POST", "/console/decide", decideA, []int{303, 404, 403, 403, 404, 401}},
		{"bad state", "POST", "/console/decide", url.Values{"box": {boxA}, "id": {idA}, "state": {"deleted"}}, []int{400, 400, 403, 403, 400, 401}},
		{"undo", "POST", "/console/undo", url.Values{}, []int{303, 409, 403, 403, 409, 401}},
		{"unknown segment", "GET", "/console/m/" + boxA + "/20261128T093000000Z-ffffffff", nil, []int{404, 404, 403, 403, 404, 303}},
		{"clip path with ..", "GET", "/console/clip/" + boxA + "/..%2F..%2F..%2Freview.db", nil, []int{404, 404, 403, 403, 404, 401}},
		{"clip path with encoded slash", "GET", clipA + "%2F..%2F..%2Fsegment.json", nil, []int{404, 404, 403, 403, 404, 401}},
		{"clip box with ..", "GET", "/console/clip/..%2F..%2Fblobs/" + idA, nil, []int{404, 404, 403, 403, 404, 401}},
		{"note to A", "POST", "/console/note", url.Values{"box": {boxA}, "id": {idA}, "text": {"说“很实在”就好"}}, []int{303, 404, 403, 403, 404, 401}},
		{"notes as a box, with a session", "GET", "/api/box/notes", nil, []int{401, 401, 401, 401, 401, 401}},
		{"her page, A", "GET", "/console/w/" + boxA, nil, []int{200, 404, 403, 403, 404, 303}},
		{"her page, B", "GET", "/console/w/" + boxB, nil, []int{404, 200, 403, 403, 404, 303}},
		{"her page, unknown box", "GET", "/console/w/" + strings.Repeat("0", 32), nil, []int{404, 404, 403, 403, 404, 303}},
		{"her page, box with ..", "GET", "/console/w/..%2F..%2Freview.db", nil, []int{404, 404, 403, 403, 404, 303}},
		{"rule precision", "GET", "/console/rules", nil, []int{200, 200, 200, 200, 200, 303}},
		{"corpus export", "GET", "/console/export.tsv", nil, []int{200, 200, 200, 200, 200, 303}},
		{"corpus export by POST", "POST", "/console/export.tsv", url.Values{}, []int{405, 405, 405, 405, 405, 405}},
		{"logout", "POST", "/console/logout", url.Values{}, []int{303, 303, 303, 303, 303, 401}},
	}
	for _, tc := range tests {
		for i, u := range users {
			s := sessions[u]
			var req *http.Request
			if tc.form != nil {
				f := url.Values{}
				for k, v := range tc.form {
					f[k] = v
				}
				if s.csrf != "" {
					f.Set("csrf", s.csrf)
				}
				req, _ = http.NewRequest(tc.method, e.base+tc.path, strings.NewReader(f.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				req, _ = http.NewRequest(tc.method, e.base+tc.path, nil)
			}
			resp, err := s.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want[i] {
				t.Errorf("%s as %q: %d, want %d", tc.name, u, resp.StatusCode, tc.want[i])
			}
			if resp.StatusCode == 200 && strings.Contains(tc.path, "..") {
				t.Errorf("%s as %q served %d bytes", tc.name, u, len(body))
			}
			if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("%s as %q: html without a CSP", tc.name, u)
			}
			if resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") &&
				!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'nonce-") {
				t.Errorf("%s as %q: page without a nonce CSP", tc.name, u)
			}
		}
	}
	// After logging out, the old cookie opens nothing.
	if resp, err := sessions["sw-a"].c.Get(e.base + momentA); err != nil || resp.StatusCode != 303 {
		t.Errorf("moment after logout: %v %v, want 303", resp.StatusCode, err)
	}

	// Refusals that need a live session of sw-a.
	c := client(t)
	csrf := e.login(c, "sw-a")
	post := func(form url.Values, hdr ...string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", e.base+"/console/decide", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	with := func(csrf string) url.Values {
		return url.Values{"box": {boxA}, "id": {idA}, "state": {store.StateFalse}, "csrf": {csrf}}
	}
	refusals := []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"no csrf token", url.Values{"box": {boxA}, "id": {idA}, "state": {store.StateFalse}}, nil},
		{"another session's csrf token", with(sessions["sw-b"].csrf), nil},
		{"empty csrf token", with(""), nil},
		{"from another site", with(csrf), []string{"Sec-Fetch-Site", "cross-site"}},
		{"from another origin", with(csrf), []string{"Origin", "https://evil.example"}},
	}
	for _, tc := range refusals {
		if got := post(tc.form, tc.hdr...); got != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, got)
		}
	}
	if st, err := e.st.State(context.Background(), store.SegmentRef{BoxID: boxA, ID: idA}); err != nil || st != store.StateNew {
		t.Errorf("state after refused decisions: %q %v, want new (the undo took back the one allowed)", st, err)
	}
	if got := post(with(csrf), "Sec-Fetch-Site", "same-origin"); got != http.StatusSeeOther {
		t.Errorf("same-origin decision with the token: %d, want 303", got)
	}

	// A box's token opens nothing in the console.
	tok := e.token("雷山 村A")
	for _, p := range []struct{ method, path string }{{"GET", "/console/"}, {"GET", momentA}, {"GET", clipA}, {"POST", "/console/decide"}, {"POST", "/console/undo"}} {
		req, _ := http.NewRequest(p.method, e.base+p.path, strings.NewReader(decideA.Encode()))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 303 && resp.StatusCode != 401 {
			t.Errorf("%s %s with a box token: %d", p.method, p.path, resp.StatusCode)
		}
	}

	// The audit log says who looked at and decided what, from where.
	es, err := e.st.Audit(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, a := range es {
		count[a.Actor+" "+a.Action]++
		if strings.HasPrefix(a.Actor, "user:") && !strings.Contains(a.Detail, "from=127.0.0.1") {
			t.Errorf("audit entry without where from: %+v", a)
		}
	}
	for k, want := range map[string]int{"user:sw-a clip.view": 1, "user:sw-a segment.view": 1, "user:sw-b segment.view": 1,
		"user:sw-a segment.decide": 2, "user:sw-a segment.undo": 1, "user:sw-b clip.view": 0, "user:sw-b segment.decide": 0,
		"user:sw-a user.login": 2, "user:sw-a user.logout": 1, "user:sw-a note.add": 1, "user:sw-b note.add": 0} {
		if count[k] != want {
			t.Errorf("audit %q: %d entries, want %d", k, count[k], want)
		}
	}
}

func TestLoginThrottle(t *testing.T) { forEachBackend(t, testLoginThrottle) }

func testLoginThrottle(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	c := client(t)
	try := func(pw string) int {
		resp, err := c.PostForm(e.base+"/console/login", url.Values{"name": {"sw-a"}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 5 {
		if got := try("wrong password " + string(rune('a'+i))); got != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i, got)
		}
	}
	if got := try(password); got != http.StatusTooManyRequests {
		t.Fatalf("right password after 5 wrong: %d, want 429", got)
	}
	// An unknown name is refused the same way as a wrong password.
	resp, err := c.PostForm(e.base+"/console/login", url.Values{"name": {"nobody"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown name: %d", resp.StatusCode)
	}
}

// The clip is served with range requests, as a video element asks.
func TestClipRanges(t *testing.T) { forEachBackend(t, testClipRanges) }

func testClipRanges(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	boxA := e.addBox("雷山 村A", "sw-a")
	mp4 := clip(t, 2)
	id, tarA := segmentTar(t, 1, time.Now().UTC().Truncate(time.Second), mp4)
	e.upload("雷山 村A", id, tarA)
	c := client(t)
	e.login(c, "sw-a")
	req, _ := http.NewRequest("GET", e.base+"/console/clip/"+boxA+"/"+id, nil)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(b) != string(mp4[100:200]) || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("range: %d, %d bytes, %q", resp.StatusCode, len(b), resp.Header.Get("Content-Type"))
	}
}

// The session cookie: HttpOnly and SameSite=Strict always, Secure under
// TLS; never readable by scripts or sent cross-site.
func TestCookieFlags(t *testing.T) {
	for _, tls := range []bool{false, true} {
		e := newEnv(t)
		e.addUser("sw-a", store.RoleSocial)
		base, c := e.base, client(t)
		if tls {
			hs := httptest.NewTLSServer(e.srv.Handler())
			t.Cleanup(hs.Close)
			base = hs.URL
			c.Transport = hs.Client().Transport
		}
		resp, err := c.PostForm(base+"/console/login", url.Values{"name": {"sw-a"}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ck := resp.Header.Get("Set-Cookie")
		for _, want := range []string{"cunbo_console=", "HttpOnly", "SameSite=Strict", "Path=/console/"} {
			if !strings.Contains(ck, want) {
				t.Errorf("tls %v: cookie %q lacks %s", tls, ck, want)
			}
		}
		if strings.Contains(ck, "Secure") != tls {
			t.Errorf("tls %v: cookie %q", tls, ck)
		}
	}
}
