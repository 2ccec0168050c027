package console_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// A social worker hands a moment she is unsure of to a colleague: it is
// at the top of the colleague's queue, marked with the reason, she can
// open and decide it; the owner still sees it, marked as handed on.
func TestEscalate(t *testing.T) { forEachBackend(t, testEscalate) }

func testEscalate(t *testing.T, e *env) {
	e.addUser("王芳", store.RoleSocial)
	e.addUser("李梅", store.RoleSocial)
	e.addUser("trainer", store.RoleTrainer)
	boxA := e.addBox("雷山 村A 杨阿姨", "王芳")
	e.addBox("雷山 村B", "李梅")
	mp4 := clip(t, 2)
	now := time.Now().UTC().Truncate(time.Second)
	idA, tarA := segmentTar(t, 1, now.Add(-3*time.Hour), mp4) // older than all of 李梅's own
	e.upload("雷山 村A 杨阿姨", idA, tarA)
	idB, tarB := segmentTar(t, 2, now.Add(-time.Hour), mp4)
	e.upload("雷山 村B", idB, tarB)
	ss := e.signIn("王芳", "李梅")
	wang, li := ss["王芳"], ss["李梅"]
	momentA := "/console/m/" + boxA + "/" + idA
	reason := "她说的是药效，我拿不准"

	// Refused: to a trainer, to herself, to nobody, without a reason, a
	// reason too long; and 李梅 cannot hand on what is not hers.
	for _, bad := range []struct {
		name string
		as   sess
		form url.Values
		want int
	}{
		{"to a trainer", wang, url.Values{"to": {"trainer"}, "reason": {reason}}, 400},
		{"to herself", wang, url.Values{"to": {"王芳"}, "reason": {reason}}, 400},
		{"to nobody", wang, url.Values{"to": {"nobody"}, "reason": {reason}}, 400},
		{"without a reason", wang, url.Values{"to": {"李梅"}, "reason": {"  "}}, 400},
		{"a reason too long", wang, url.Values{"to": {"李梅"}, "reason": {strings.Repeat("药", 101)}}, 400},
		{"a reason with control characters", wang, url.Values{"to": {"李梅"}, "reason": {"a\x00b"}}, 400},
		{"not hers", li, url.Values{"to": {"李梅"}, "reason": {reason}}, 404},
	} {
		bad.form.Set("box", boxA)
		bad.form.Set("id", idA)
		if code, body, _ := e.send(bad.as, "POST", "/console/escalate", bad.form); code != bad.want {
			t.Errorf("escalate %s: %d, want %d\n%s", bad.name, code, bad.want, body)
		}
	}
	if code, _, _ := e.send(li, "GET", momentA, nil); code != 404 {
		t.Fatalf("李梅 opens A before it is handed to her: %d", code)
	}
	// The moment page offers her colleagues (not trainers, not herself).
	_, page, _ := e.send(wang, "GET", momentA, nil)
	if !strings.Contains(page, `<option value="李梅">`) || strings.Contains(page, `<option value="trainer">`) || strings.Contains(page, `<option value="王芳">`) {
		t.Errorf("moment page's colleagues:\n%s", page)
	}

	code, _, h := e.send(wang, "POST", "/console/escalate", url.Values{"box": {boxA}, "id": {idA}, "to": {"李梅"}, "reason": {reason}})
	if code != 303 || h.Get("Location") != momentA+"?msg=escalated" {
		t.Fatalf("escalate: %d %q", code, h.Get("Location"))
	}

	// 李梅's queue: A first (though older than her own B), marked.
	_, q, _ := e.send(li, "GET", "/console/", nil)
	iA, iB := strings.Index(q, momentA), strings.Index(q, "/console/m/"+e.boxes["雷山 村B"].id+"/"+idB)
	if iA < 0 || iB < 0 || iA > iB {
		t.Fatalf("李梅's queue: A at %d, B at %d; want A first", iA, iB)
	}
	row := q[iA:iB]
	for _, want := range []string{"同事转来", "王芳", reason} {
		if !strings.Contains(row, want) {
			t.Errorf("李梅's row of A lacks %q:\n%s", want, row)
		}
	}
	// Her page stays her worker's: no link to it for the colleague.
	if strings.Contains(row, "/console/w/"+boxA) {
		t.Errorf("李梅's row of A links to a page she may not open")
	}
	// 王芳 still sees it, marked as handed on.
	_, q, _ = e.send(wang, "GET", "/console/", nil)
	if !strings.Contains(q, momentA) || !strings.Contains(q, "已转给 李梅") {
		t.Errorf("王芳's queue lacks A marked as handed on:\n%s", q)
	}
	// 李梅 opens it (the clip too) and decides it.
	if code, page, _ := e.send(li, "GET", momentA, nil); code != 200 || !strings.Contains(page, "同事转来") || !strings.Contains(page, reason) ||
		strings.Contains(page, "/console/w/"+boxA) {
		t.Fatalf("李梅 opens A: %d (or it links to a page she may not open)", code)
	}
	if code, _, _ := e.send(li, "GET", "/console/clip/"+boxA+"/"+idA, nil); code != 200 {
		t.Fatalf("李梅 plays A: %d", code)
	}
	if code, _, _ := e.send(li, "POST", "/console/decide", url.Values{"box": {boxA}, "id": {idA}, "state": {store.StateReal}}); code != 303 {
		t.Fatalf("李梅 decides A: %d", code)
	}
	ref := store.SegmentRef{BoxID: boxA, ID: idA}
	if st, _ := e.st.State(context.Background(), ref); st != store.StateReal {
		t.Fatalf("A after 李梅's decision: %q", st)
	}
	_, page, _ = e.send(wang, "GET", momentA, nil)
	if !strings.Contains(page, "已转给 李梅") || !strings.Contains(page, "确实有问题") {
		t.Errorf("王芳's page of A after 李梅 decided:\n%s", page)
	}
	// Handed back, it leaves 李梅's pages again.
	if code, _, _ := e.send(li, "POST", "/console/escalate", url.Values{"box": {boxA}, "id": {idA}, "to": {"王芳"}, "reason": {"还给你"}}); code != 303 {
		t.Fatalf("李梅 hands A back: %d", code)
	}
	if code, _, _ := e.send(li, "GET", momentA, nil); code != 404 {
		t.Errorf("李梅 opens A after handing it back: %d", code)
	}
	es, _ := e.st.Audit(context.Background(), 1000)
	var got []string
	for _, a := range es {
		if a.Action == "segment.escalate" {
			got = append(got, a.Actor+" "+a.Subject+" "+a.Detail)
		}
	}
	if len(got) != 2 || !strings.HasPrefix(got[1], "user:王芳 "+boxA+"/"+idA+" to=李梅 from=") || !strings.HasPrefix(got[0], "user:李梅 ") {
		t.Errorf("escalations in the audit log: %q", got)
	}
}
