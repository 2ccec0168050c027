package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// The trainer lists the boxes with what they last sent, never what was
// said, and revokes one after a confirm step: the box can sign in no
// more.
func TestBoxesPage(t *testing.T) { forEachBackend(t, testBoxesPage) }

func testBoxesPage(t *testing.T, e *env) {
	e.addUser("王芳", store.RoleSocial)
	e.addUser("trainer", store.RoleTrainer)
	boxA := e.addBox("雷山 村A 杨阿姨", "王芳")
	mp4 := clip(t, 2)
	at := time.Date(2026, 11, 28, 2, 30, 0, 0, time.UTC) // 10:30 in Beijing
	idA, tarA := segmentTar(t, 1, at, mp4)
	e.upload("雷山 村A 杨阿姨", idA, tarA)
	tr := e.signIn("trainer")["trainer"]

	code, page, _ := e.send(tr, "GET", "/console/boxes", nil)
	if code != 200 {
		t.Fatalf("boxes: %d", code)
	}
	for _, want := range []string{"雷山 村A 杨阿姨", "在用", "11月28日 10:30", "王芳", boxA, "/console/boxes/" + boxA + "/revoke"} {
		if !strings.Contains(page, want) {
			t.Errorf("boxes page lacks %q", want)
		}
	}
	// Nothing she said, no clip, no link to the moment.
	for _, never := range append([]string{"/console/m/", "/console/clip/", idA, "全网最低"}, lines...) {
		if strings.Contains(page, never) {
			t.Errorf("a trainer's boxes page shows %q", never)
		}
	}
	// The confirm step names the box and changes nothing.
	code, page, _ = e.send(tr, "GET", "/console/boxes/"+boxA+"/revoke", nil)
	if code != 200 || !strings.Contains(page, "雷山 村A 杨阿姨") || !strings.Contains(page, `name="confirm" value="yes"`) {
		t.Fatalf("confirm step: %d\n%s", code, page)
	}
	if b, _ := e.st.Box(context.Background(), boxA); b.IsRevoked() {
		t.Fatal("the confirm step revoked the box")
	}
	// Without the confirmation, nothing happens either.
	if code, _, _ := e.send(tr, "POST", "/console/boxes/revoke", url.Values{"box": {boxA}}); code != 400 {
		t.Errorf("revoke without confirming: %d, want 400", code)
	}
	if code, _, _ := e.send(tr, "POST", "/console/boxes/revoke", url.Values{"box": {"../" + boxA}, "confirm": {"yes"}}); code != 404 {
		t.Errorf("revoke a malformed box: %d, want 404", code)
	}
	tok := e.token("雷山 村A 杨阿姨")
	code, _, h := e.send(tr, "POST", "/console/boxes/revoke", url.Values{"box": {boxA}, "confirm": {"yes"}})
	if code != 303 || h.Get("Location") != "/console/boxes?msg=revoked" {
		t.Fatalf("revoke: %d %q", code, h.Get("Location"))
	}
	_, page, _ = e.send(tr, "GET", "/console/boxes?msg=revoked", nil)
	if !strings.Contains(page, "已停用") || strings.Contains(page, "/console/boxes/"+boxA+"/revoke") {
		t.Errorf("boxes page after revoking:\n%s", page)
	}
	// Its token is void at once.
	req, _ := http.NewRequest("GET", e.base+"/api/box/notes", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("the revoked box's token: %d", resp.StatusCode)
	}
	es, _ := e.st.AuditPage(context.Background(), store.AuditFilter{Action: "box.revoke", Limit: 10})
	if len(es) != 1 || es[0].Actor != "user:trainer" || es[0].Subject != boxA {
		t.Errorf("revoke in the audit log: %+v", es)
	}
}
