package console_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// sess is a signed-in (or not) browser of a test.
type sess struct {
	c    *http.Client
	csrf string
}

// send makes one request as s; a non-nil form is posted with s's CSRF
// token (when it has one). It returns the status and the body.
func (e *env) send(s sess, method, path string, form url.Values) (int, string, http.Header) {
	e.t.Helper()
	var req *http.Request
	if form != nil {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if s.csrf != "" && f.Get("csrf") == "" {
			f.Set("csrf", s.csrf)
		}
		req, _ = http.NewRequest(method, e.base+path, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(method, e.base+path, nil)
	}
	resp, err := s.c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// signIn signs each of names in with a client of its own ("" stays out).
func (e *env) signIn(names ...string) map[string]sess {
	e.t.Helper()
	out := map[string]sess{}
	for _, n := range names {
		c := client(e.t)
		s := sess{c: c}
		if n != "" {
			s.csrf = e.login(c, n)
		}
		out[n] = s
	}
	return out
}

// TestAuthz is the authorisation table of every console page: each role
// (none, social worker of the woman, another social worker, trainer,
// admin, social worker and trainer with no caseload) against every
// endpoint, for her own and another's caseload.
func TestAuthz(t *testing.T) { forEachBackend(t, testAuthz) }

func testAuthz(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	e.addUser("sw-b", store.RoleSocial)
	e.addUser("trainer", store.RoleTrainer)
	e.addUser("admin", store.RoleAdmin)
	e.addUser("both", store.RoleSocial, store.RoleTrainer)
	boxA := e.addBox("雷山 村A", "sw-a")
	boxB := e.addBox("雷山 村B", "sw-b")
	boxC := e.addBox("雷山 村C", "sw-b")
	mp4 := clip(t, 2)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	idA, tarA := segmentTar(t, 1, at, mp4)
	e.upload("雷山 村A", idA, tarA)
	idB, tarB := segmentTar(t, 2, at, mp4)
	e.upload("雷山 村B", idB, tarB)
	practiceA := "/console/p/" + boxA + "/" + e.putPractice("雷山 村A", at, 10*time.Minute, practiceChecks())
	liveStart := at.Add(-2 * time.Hour)
	e.putSession("雷山 村A", liveStart, time.Hour, 0)
	liveA := "/console/p/" + boxA + "/" + liveStart.UTC().Format("20060102T150405Z") + "-0000abcd"
	assessA := url.Values{"box": {boxA}, "id": {path.Base(practiceA)}, "present": {"2"}, "answer": {"3"}, "orders": {"1"}, "rules": {"3"}, "comment": {"价格说清楚了"}}

	users := []string{"sw-a", "sw-b", "trainer", "admin", "both", ""}
	ss := e.signIn(users...)
	momentA, clipA := "/console/m/"+boxA+"/"+idA, "/console/clip/"+boxA+"/"+idA
	momentB := "/console/m/" + boxB + "/" + idB
	escalateA := url.Values{"box": {boxA}, "id": {idA}, "to": {"both"}, "reason": {"她说的是药效，我拿不准"}}
	tests := []struct {
		name         string
		method, path string
		form         url.Values
		want         []int // per user, in the order of users
	}{
		{"queue", "GET", "/console/", nil, []int{200, 200, 200, 200, 200, 303}},
		{"moment of A", "GET", momentA, nil, []int{200, 404, 403, 403, 404, 303}},
		{"moment of B", "GET", momentB, nil, []int{404, 200, 403, 403, 404, 303}},
		{"clip of A", "GET", clipA, nil, []int{200, 404, 403, 403, 404, 401}},
		{"poster of A", "GET", "/console/poster/" + boxA + "/" + idA + "?t=1", nil, []int{200, 404, 403, 403, 404, 401}},
		{"poster of A, a bad time", "GET", "/console/poster/" + boxA + "/" + idA + "?t=-1", nil, []int{400, 400, 403, 403, 400, 401}},
		{"poster path with ..", "GET", "/console/poster/" + boxA + "/..%2F..%2F..%2Freview.db?t=1", nil, []int{404, 404, 403, 403, 404, 401}},
		{"decide on A", "POST", "/console/decide", url.Values{"box": {boxA}, "id": {idA}, "state": {store.StateReal}}, []int{303, 404, 403, 403, 404, 401}},
		{"undo", "POST", "/console/undo", url.Values{}, []int{303, 409, 403, 403, 409, 401}},
		{"note to A", "POST", "/console/note", url.Values{"box": {boxA}, "id": {idA}, "text": {"说“很实在”就好"}}, []int{303, 404, 403, 403, 404, 401}},
		{"practice of A", "GET", practiceA, nil, []int{200, 404, 403, 403, 404, 303}},
		{"a live of A as a practice", "GET", liveA, nil, []int{404, 404, 403, 403, 404, 303}},
		{"practice, malformed id", "GET", "/console/p/" + boxA + "/..%2F..%2Freview.db", nil, []int{404, 404, 403, 403, 404, 303}},
		{"assess a practice of A", "POST", "/console/p/assess", assessA, []int{303, 404, 403, 403, 404, 401}},
		{"assess: no GET", "GET", "/console/p/assess", nil, []int{405, 405, 405, 405, 405, 405}},
		{"ready mark of A", "POST", "/console/ready", url.Values{"box": {boxA}, "ready": {"1"}}, []int{303, 404, 403, 403, 404, 401}},
		{"ready mark of B", "POST", "/console/ready", url.Values{"box": {boxB}, "ready": {"1"}}, []int{404, 303, 403, 403, 404, 401}},

		{"audit log", "GET", "/console/admin/audit", nil, []int{403, 403, 403, 200, 403, 303}},
		{"audit log, filtered", "GET", "/console/admin/audit?who=sw-a&action=segment.view&from=2026-01-01&to=2036-01-01", nil, []int{403, 403, 403, 200, 403, 303}},
		{"audit log, a bad date", "GET", "/console/admin/audit?from=yesterday", nil, []int{403, 403, 403, 400, 403, 303}},
		{"audit export", "GET", "/console/admin/audit.csv", nil, []int{403, 403, 403, 200, 403, 303}},
		{"audit log: no POST", "POST", "/console/admin/audit", url.Values{"seq": {"1"}}, []int{405, 405, 405, 405, 405, 405}},
		{"audit log: no DELETE", "DELETE", "/console/admin/audit", nil, []int{405, 405, 405, 405, 405, 405}},
		{"audit log: no PUT", "PUT", "/console/admin/audit", url.Values{"seq": {"1"}}, []int{405, 405, 405, 405, 405, 405}},
		{"audit export: no POST", "POST", "/console/admin/audit.csv", url.Values{}, []int{405, 405, 405, 405, 405, 405}},
		{"audit export: no DELETE", "DELETE", "/console/admin/audit.csv", nil, []int{405, 405, 405, 405, 405, 405}},
		{"an audit entry: no DELETE", "DELETE", "/console/admin/audit/1", nil, []int{404, 404, 404, 404, 404, 404}},
		{"an audit entry: no POST", "POST", "/console/admin/audit/1", url.Values{}, []int{404, 404, 404, 404, 404, 404}},
		{"accounts", "GET", "/console/admin/users", nil, []int{403, 403, 403, 200, 403, 303}},
		{"add an account", "POST", "/console/admin/users", url.Values{"name": {"new-sw"}, "role": {store.RoleSocial}}, []int{403, 403, 403, 200, 403, 401}},
		{"assign a box", "POST", "/console/admin/assign", url.Values{"box": {boxC}, "to": {"sw-b"}}, []int{403, 403, 403, 303, 403, 401}},
		{"boxes", "GET", "/console/boxes", nil, []int{403, 403, 200, 403, 200, 303}},
		{"revoke, the confirm step", "GET", "/console/boxes/" + boxC + "/revoke", nil, []int{403, 403, 200, 403, 200, 303}},
		{"revoke an unknown box", "GET", "/console/boxes/" + strings.Repeat("0", 32) + "/revoke", nil, []int{403, 403, 404, 403, 404, 303}},
		{"provision", "GET", "/console/provision", nil, []int{403, 403, 200, 403, 200, 303}},
		{"provision upload, no file", "POST", "/console/provision/upload", url.Values{}, []int{403, 403, 400, 403, 400, 401}},
		{"provision draft, unknown", "GET", "/console/provision/d/" + strings.Repeat("0", 32), nil, []int{403, 403, 404, 403, 404, 303}},
		{"provision draft, malformed", "GET", "/console/provision/d/..%2F..%2Freview.db", nil, []int{403, 403, 404, 403, 404, 303}},
		{"provision card, unknown draft", "GET", "/console/provision/d/" + strings.Repeat("0", 32) + "/card/0.png", nil, []int{403, 403, 404, 403, 404, 303}},
		{"provision build, unknown draft", "POST", "/console/provision/build", url.Values{"draft": {strings.Repeat("0", 32)}}, []int{403, 403, 404, 403, 404, 401}},
		{"bundle as a box, with a session", "GET", "/api/box/bundle", nil, []int{401, 401, 401, 401, 401, 401}},
		{"revoke", "POST", "/console/boxes/revoke", url.Values{"box": {boxC}, "confirm": {"yes"}}, []int{403, 403, 303, 403, 303, 401}},

		// Handing A on to "both": only A's worker may; "both" then may see
		// it (and may not hand it to herself), the others still not.
		{"escalate A", "POST", "/console/escalate", escalateA, []int{303, 404, 403, 403, 400, 401}},
		{"moment of A, handed on", "GET", momentA, nil, []int{200, 404, 403, 403, 200, 303}},
		{"clip of A, handed on", "GET", clipA, nil, []int{200, 404, 403, 403, 200, 401}},
		{"moment of B, after", "GET", momentB, nil, []int{404, 200, 403, 403, 404, 303}},

		{"clip path with ..", "GET", "/console/clip/" + boxA + "/..%2F..%2F..%2Freview.db", nil, []int{404, 404, 403, 403, 404, 401}},
		{"clip path with encoded dots", "GET", "/console/clip/" + boxA + "/%2e%2e%2f%2e%2e%2freview.db", nil, []int{404, 404, 403, 403, 404, 401}},
		{"clip path double-encoded", "GET", "/console/clip/" + boxA + "/%252e%252e%252f" + idA, nil, []int{404, 404, 403, 403, 404, 401}},
		{"clip box with ..", "GET", "/console/clip/..%2F..%2Fblobs/" + idA, nil, []int{404, 404, 403, 403, 404, 401}},
		{"clip with a trailing part", "GET", clipA + "%2F..%2F..%2Fsegment.json", nil, []int{404, 404, 403, 403, 404, 401}},
		{"clip with a backslash", "GET", "/console/clip/" + boxA + "/..%5C..%5Creview.db", nil, []int{404, 404, 403, 403, 404, 401}},

		// The other pages of the console (her progress, the rules'
		// precision, the corpus export) and the boxes' endpoints.
		{"her page, A", "GET", "/console/w/" + boxA, nil, []int{200, 404, 403, 403, 404, 303}},
		{"her page, B", "GET", "/console/w/" + boxB, nil, []int{404, 200, 403, 403, 404, 303}},
		{"her page, a malformed box", "GET", "/console/w/..%2F" + boxA, nil, []int{404, 404, 403, 403, 404, 303}},
		{"rules' precision", "GET", "/console/rules", nil, []int{200, 200, 200, 200, 200, 303}},
		{"corpus export", "GET", "/console/export.tsv", nil, []int{200, 200, 200, 200, 200, 303}},
		{"corpus export: no POST", "POST", "/console/export.tsv", url.Values{}, []int{405, 405, 405, 405, 405, 405}},
		{"notes as a box, with a session", "GET", "/api/box/notes", nil, []int{401, 401, 401, 401, 401, 401}},
		{"read receipt as a box, with a session", "POST", "/api/box/notes/read", url.Values{"seq": {"1"}}, []int{401, 401, 401, 401, 401, 401}},

		// The fleet: trainers and admins see it; only trainers re-key.
		{"fleet", "GET", "/console/fleet", nil, []int{403, 403, 200, 200, 200, 303}},
		{"replace, the form", "GET", "/console/fleet/" + boxB + "/replace", nil, []int{403, 403, 200, 403, 200, 303}},
		{"replace an unknown box", "GET", "/console/fleet/" + strings.Repeat("0", 32) + "/replace", nil, []int{403, 403, 404, 403, 404, 303}},
		{"replace", "POST", "/console/fleet/replace", url.Values{"box": {boxC}, "key": {strings.Repeat("ab", 32)}}, []int{403, 403, 303, 403, 400, 401}},
		{"heartbeat as a box, with a session", "POST", "/api/box/heartbeat", url.Values{}, []int{401, 401, 401, 401, 401, 401}},

		{"logout", "POST", "/console/logout", url.Values{}, []int{303, 303, 303, 303, 303, 401}},
	}
	for _, tc := range tests {
		for i, u := range users {
			code, body, h := e.send(ss[u], tc.method, tc.path, tc.form)
			if code != tc.want[i] {
				t.Errorf("%s %s (%s) as %q: %d, want %d", tc.method, tc.path, tc.name, u, code, tc.want[i])
			}
			if code == 200 && (strings.Contains(tc.path, "%2") || strings.Contains(tc.path, "%5C")) {
				t.Errorf("%s as %q served %d bytes", tc.name, u, len(body))
			}
			if ct := h.Get("Content-Type"); strings.HasPrefix(ct, "text/html") && code < 300 &&
				!strings.Contains(h.Get("Content-Security-Policy"), "script-src 'nonce-") {
				t.Errorf("%s as %q: a page without its nonce CSP", tc.name, u)
			}
		}
	}

	// Raw paths with dot segments are cleaned by the server (a redirect)
	// and never serve a file.
	raw := e.signIn("sw-a")["sw-a"]
	for _, p := range []string{"/console/clip/../../review.db", "/console/clip/" + boxA + "/../../../etc/passwd", "/console/static/../../review.db"} {
		req, _ := http.NewRequest("GET", e.base+"/", nil)
		req.URL.Opaque = p // sent as written, dots and all
		resp, err := raw.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || (resp.StatusCode >= 300 && resp.StatusCode < 400 && strings.Contains(resp.Header.Get("Location"), "..")) {
			t.Errorf("GET %s: %d (%d bytes), Location %q", p, resp.StatusCode, len(b), resp.Header.Get("Location"))
		}
	}

	// The revoked box is revoked, by the first trainer who did it.
	if b, err := e.st.Box(context.Background(), boxC); err != nil || !b.IsRevoked() {
		t.Errorf("box C after revoking: %+v %v", b, err)
	}
	// What each role did is in the log, as that role.
	es, err := e.st.Audit(context.Background(), 10000)
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
	for k, want := range map[string]int{
		"user:sw-a segment.escalate": 1, "user:both segment.escalate": 0, "user:sw-b segment.escalate": 0,
		"user:admin audit.view": 2, "user:admin audit.export": 1, "user:admin users.view": 1, "user:admin user.add": 1,
		"user:admin box.assign": 1, "user:trainer boxes.view": 1, "user:both boxes.view": 1, "user:trainer box.revoke": 1,
		"user:both box.revoke": 1, "user:both segment.view": 1, "user:both clip.view": 1, "user:sw-a audit.view": 0,
		"user:trainer segment.view": 0, "user:trainer clip.view": 0,
		"user:sw-a practice.view": 1, "user:sw-a practice.assess": 1, "user:sw-a practice.ready": 1, "user:sw-b practice.ready": 1,
		"user:sw-b practice.view": 0, "user:both practice.assess": 0, "user:trainer practice.view": 0,
		"user:trainer fleet.view": 1, "user:admin fleet.view": 1, "user:both fleet.view": 1, "user:trainer box.replace": 1, "user:both box.replace": 0,
	} {
		if count[k] != want {
			t.Errorf("audit %q: %d entries, want %d", k, count[k], want)
		}
	}
}

// Every state change needs the session's CSRF token and a same-site
// request; a refused one changes nothing.
func TestAuthzCSRF(t *testing.T) { forEachBackend(t, testAuthzCSRF) }

func testAuthzCSRF(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	e.addUser("sw-b", store.RoleSocial)
	e.addUser("admin", store.RoleAdmin)
	e.addUser("trainer", store.RoleTrainer)
	boxA := e.addBox("雷山 村A", "sw-a")
	mp4 := clip(t, 2)
	idA, tarA := segmentTar(t, 1, time.Now().UTC().Add(-time.Hour).Truncate(time.Second), mp4)
	e.upload("雷山 村A", idA, tarA)
	practiceID := e.putPractice("雷山 村A", time.Now().UTC().Add(-2*time.Hour).Truncate(time.Second), 10*time.Minute, practiceChecks())
	ss := e.signIn("sw-a", "sw-b", "admin", "trainer")
	posts := []struct {
		as, path string
		form     url.Values
	}{
		{"sw-a", "/console/decide", url.Values{"box": {boxA}, "id": {idA}, "state": {store.StateReal}}},
		{"sw-a", "/console/note", url.Values{"box": {boxA}, "id": {idA}, "text": {"好"}}},
		{"sw-a", "/console/escalate", url.Values{"box": {boxA}, "id": {idA}, "to": {"sw-b"}, "reason": {"拿不准"}}},
		{"admin", "/console/admin/users", url.Values{"name": {"mallory"}, "role": {store.RoleAdmin}}},
		{"admin", "/console/admin/assign", url.Values{"box": {boxA}, "to": {"sw-b"}}},
		{"trainer", "/console/boxes/revoke", url.Values{"box": {boxA}, "confirm": {"yes"}}},
		{"sw-a", "/console/p/assess", url.Values{"box": {boxA}, "id": {practiceID}, "present": {"2"}, "answer": {"3"}, "orders": {"1"}, "rules": {"3"}}},
		{"sw-a", "/console/ready", url.Values{"box": {boxA}, "ready": {"1"}}},
		{"sw-a", "/console/logout", url.Values{}},
	}
	for _, p := range posts {
		s := ss[p.as]
		for _, bad := range []struct {
			name string
			csrf string
			hdr  []string
		}{
			{"no token", "", nil},
			{"another session's token", ss["sw-b"].csrf, nil},
			{"from another site", s.csrf, []string{"Sec-Fetch-Site", "cross-site"}},
			{"from another origin", s.csrf, []string{"Origin", "https://evil.example"}},
		} {
			f := url.Values{}
			for k, v := range p.form {
				f[k] = v
			}
			if bad.csrf != "" {
				f.Set("csrf", bad.csrf)
			}
			req, _ := http.NewRequest("POST", e.base+p.path, strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for i := 0; i+1 < len(bad.hdr); i += 2 {
				req.Header.Set(bad.hdr[i], bad.hdr[i+1])
			}
			resp, err := s.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s as %s, %s: %d, want 403", p.path, p.as, bad.name, resp.StatusCode)
			}
		}
	}
	ctx := context.Background()
	ref := store.SegmentRef{BoxID: boxA, ID: idA}
	if st, _ := e.st.State(ctx, ref); st != store.StateNew {
		t.Errorf("state after refused decisions: %q", st)
	}
	if _, err := e.st.Escalation(ctx, ref); err == nil {
		t.Errorf("a refused escalation was stored")
	}
	if _, err := e.st.User(ctx, "mallory"); err == nil {
		t.Errorf("a refused account was added")
	}
	if as, _ := e.st.PracticeAssessments(ctx, boxA, practiceID); len(as) != 0 {
		t.Errorf("a refused assessment was stored: %+v", as)
	}
	if m, _ := e.st.Ready(ctx, boxA); m.Ready {
		t.Errorf("a refused ready mark was stored: %+v", m)
	}
	if w, _ := e.st.Worker(ctx, boxA); w != "sw-a" {
		t.Errorf("a refused assignment moved box A to %q", w)
	}
	if b, _ := e.st.Box(ctx, boxA); b.IsRevoked() {
		t.Errorf("a refused revoke revoked box A")
	}
	if code, _, _ := e.send(ss["sw-a"], "GET", "/console/", nil); code != 200 {
		t.Errorf("sw-a signed out by a refused logout: %d", code)
	}
}

// A box's bearer token opens no console page, read or write.
func TestAuthzBoxToken(t *testing.T) { forEachBackend(t, testAuthzBoxToken) }

func testAuthzBoxToken(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	boxA := e.addBox("雷山 村A", "sw-a")
	mp4 := clip(t, 2)
	idA, tarA := segmentTar(t, 1, time.Now().UTC().Add(-time.Hour).Truncate(time.Second), mp4)
	e.upload("雷山 村A", idA, tarA)
	tok := e.token("雷山 村A")
	form := url.Values{"box": {boxA}, "id": {idA}, "state": {store.StateReal}, "to": {"sw-a"}, "name": {"box-made"},
		"role": {store.RoleAdmin}, "confirm": {"yes"}, "reason": {"x"}, "text": {"x"}}
	for _, p := range []struct{ method, path string }{
		{"GET", "/console/"}, {"GET", "/console/m/" + boxA + "/" + idA}, {"GET", "/console/clip/" + boxA + "/" + idA},
		{"GET", "/console/admin/audit"}, {"GET", "/console/admin/audit.csv"}, {"GET", "/console/admin/users"},
		{"GET", "/console/boxes"}, {"GET", "/console/boxes/" + boxA + "/revoke"},
		{"GET", "/console/w/" + boxA}, {"GET", "/console/rules"}, {"GET", "/console/export.tsv"},
		{"POST", "/console/decide"}, {"POST", "/console/undo"}, {"POST", "/console/note"}, {"POST", "/console/escalate"},
		{"POST", "/console/admin/users"}, {"POST", "/console/admin/assign"}, {"POST", "/console/boxes/revoke"},
		{"GET", "/console/fleet"}, {"GET", "/console/fleet/" + boxA + "/replace"}, {"POST", "/console/fleet/replace"},
	} {
		req, _ := http.NewRequest(p.method, e.base+p.path, strings.NewReader(form.Encode()))
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
	if b, _ := e.st.Box(context.Background(), boxA); b.IsRevoked() {
		t.Errorf("a box token revoked its box")
	}
	if _, err := e.st.User(context.Background(), "box-made"); err == nil {
		t.Errorf("a box token added an account")
	}
}

// Session fixation: a cookie planted before sign-in is not the one the
// sign-in issues, and opens nothing after it.
func TestAuthzSessionFixation(t *testing.T) { forEachBackend(t, testAuthzSessionFixation) }

func testAuthzSessionFixation(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	planted := strings.Repeat("Ab3", 15) // the length of a real one
	u, _ := url.Parse(e.base + "/console/")
	c := client(t)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "cunbo_console", Value: planted, Path: "/console/"}})
	resp, err := c.PostForm(e.base+"/console/login", url.Values{"name": {"sw-a"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var issued string
	for _, ck := range resp.Cookies() {
		if ck.Name == "cunbo_console" {
			issued = ck.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || issued == "" || issued == planted {
		t.Fatalf("sign-in with a planted cookie: %d, issued %q", resp.StatusCode, issued)
	}
	// The planted cookie alone, as the attacker holds it.
	attacker := client(t)
	attacker.Jar.SetCookies(u, []*http.Cookie{{Name: "cunbo_console", Value: planted, Path: "/console/"}})
	if code, _, _ := e.send(sess{c: attacker}, "GET", "/console/", nil); code != http.StatusSeeOther {
		t.Errorf("the planted cookie after her sign-in: %d, want 303 to the sign-in page", code)
	}
	if code, _, _ := e.send(sess{c: c}, "GET", "/console/", nil); code != http.StatusOK {
		t.Errorf("her own session: %d", code)
	}
}

// Guessing from one address with many names is throttled as guessing one
// name is (TestLoginThrottle).
func TestAuthzThrottleByAddress(t *testing.T) { forEachBackend(t, testAuthzThrottleByAddress) }

func testAuthzThrottleByAddress(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	c := client(t)
	try := func(name, pw string) int {
		resp, err := c.PostForm(e.base+"/console/login", url.Values{"name": {name}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 30 {
		if got := try("guess-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "wrong password"); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, got)
		}
	}
	if got := try("sw-a", password); got != http.StatusTooManyRequests {
		t.Fatalf("the right password after 30 guesses from the address: %d, want 429", got)
	}
}
