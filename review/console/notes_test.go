package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

type notesReply struct {
	Notes []struct {
		Seq  int64     `json:"seq"`
		Text string    `json:"text"`
		From string    `json:"from"`
		At   time.Time `json:"at"`
	} `json:"notes"`
	More  bool   `json:"more"`
	Error string `json:"error"`
}

// A social worker leaves a note on a moment; the woman's box, and only
// hers, fetches it with its token.
func TestBoxNotes(t *testing.T) { forEachBackend(t, testBoxNotes) }

func testBoxNotes(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	e.addUser("sw-b", store.RoleSocial)
	boxA := e.addBox("雷山 村A", "sw-a")
	e.addBox("雷山 村B", "sw-b")
	id, body := segmentTar(t, 1, time.Now().UTC().Truncate(time.Second), clip(t, 1))
	e.upload("雷山 村A", id, body)
	c := client(t)
	csrf := e.login(c, "sw-a")
	send := func(text string) int {
		t.Helper()
		resp, err := c.PostForm(e.base+"/console/note", url.Values{"csrf": {csrf}, "box": {boxA}, "id": {id}, "text": {text}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		text string
		want int
	}{
		{"  说“价格很实在”就好，\r\n不要说“全网最低”。 ", 303},
		{"", 400},
		{"   ", 400},
		{strings.Repeat("好", 201), 400},
		{"响\x07铃", 400},
		{strings.Repeat("好", 200), 303},
	} {
		if got := send(tc.text); got != tc.want {
			t.Errorf("note %q: %d, want %d", tc.text, got, tc.want)
		}
	}
	fetch := func(token, query string) (int, notesReply) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.base+"/api/box/notes"+query, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r notesReply
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("notes reply %q: %v", b, err)
		}
		return resp.StatusCode, r
	}
	tokA, tokB := e.token("雷山 村A"), e.token("雷山 村B")
	code, r := fetch(tokA, "")
	if code != 200 || len(r.Notes) != 2 || r.Notes[0].Text != "说“价格很实在”就好，\n不要说“全网最低”。" || r.Notes[0].From != "sw-a" || r.More {
		t.Fatalf("box A's notes: %d %+v", code, r)
	}
	if code, r := fetch(tokA, "?after="+itoa(r.Notes[1].Seq)); code != 200 || len(r.Notes) != 0 {
		t.Errorf("after the last: %d %+v", code, r)
	}
	if code, r := fetch(tokA, "?after="+itoa(r.Notes[0].Seq)); code != 200 || len(r.Notes) != 1 {
		t.Errorf("after the first: %d %+v", code, r)
	}
	if code, r := fetch(tokB, ""); code != 200 || len(r.Notes) != 0 {
		t.Errorf("box B gets A's notes: %d %+v", code, r)
	}
	for _, tc := range []struct {
		token, query string
		code         int
		err          string
	}{
		{"", "", 401, "no_token"},
		{"not-a-token", "", 401, "bad_token"},
		{tokA, "?after=-1", 400, "bad_request"},
		{tokA, "?after=x", 400, "bad_request"},
	} {
		if code, r := fetch(tc.token, tc.query); code != tc.code || r.Error != tc.err {
			t.Errorf("token %q %s: %d %q, want %d %q", tc.token, tc.query, code, r.Error, tc.code, tc.err)
		}
	}
	// The page shows the newest note.
	resp, err := c.Get(e.base + "/console/m/" + boxA + "/" + id)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "上次留言") || !strings.Contains(string(page), strings.Repeat("好", 200)) {
		t.Errorf("moment page does not show the last note")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The box's read receipt: only for its own notes, once, and the moment
// page then says she has read it.
func TestBoxNoteRead(t *testing.T) { forEachBackend(t, testBoxNoteRead) }

func testBoxNoteRead(t *testing.T, e *env) {
	e.addUser("sw-a", store.RoleSocial)
	e.addUser("sw-b", store.RoleSocial)
	boxA := e.addBox("雷山 村A", "sw-a")
	e.addBox("雷山 村B", "sw-b")
	id, body := segmentTar(t, 1, time.Now().UTC().Truncate(time.Second), clip(t, 1))
	e.upload("雷山 村A", id, body)
	c := client(t)
	csrf := e.login(c, "sw-a")
	resp, err := c.PostForm(e.base+"/console/note", url.Values{"csrf": {csrf}, "box": {boxA}, "id": {id}, "text": {"说“价格很实在”就好"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	last, err := e.st.LastNote(t.Context(), boxA)
	if err != nil {
		t.Fatal(err)
	}
	page := func() string {
		t.Helper()
		resp, err := c.Get(e.base + "/console/m/" + boxA + "/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if p := page(); !strings.Contains(p, "她还没看") || strings.Contains(p, "看过了") {
		t.Fatalf("before the receipt the page does not say she has not read it")
	}
	tokA, tokB := e.token("雷山 村A"), e.token("雷山 村B")
	read := func(token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", e.base+"/api/box/notes/read", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	seq := `{"seq":` + itoa(last.Seq) + `}`
	for _, tc := range []struct {
		name, token, body string
		code              int
		has               string
	}{
		{"no token", "", seq, 401, "no_token"},
		{"another box", tokB, seq, 404, "not_found"},
		{"no such note", tokA, `{"seq":` + itoa(last.Seq+99) + `}`, 404, "not_found"},
		{"not json", tokA, `seq=1`, 400, "bad_request"},
		{"zero", tokA, `{"seq":0}`, 400, "bad_request"},
		{"unknown field", tokA, `{"seq":1,"box":"x"}`, 400, "bad_request"},
		{"her box", tokA, seq, 200, `"read_at"`},
		{"again", tokA, seq, 200, `"read_at"`},
	} {
		if code, body := read(tc.token, tc.body); code != tc.code || !strings.Contains(body, tc.has) {
			t.Errorf("%s: %d %s, want %d with %s", tc.name, code, body, tc.code, tc.has)
		}
	}
	if p := page(); !strings.Contains(p, "看过了") || strings.Contains(p, "她还没看") {
		t.Fatalf("after the receipt the page does not say she has read it")
	}
	es, err := e.st.Audit(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range es {
		if a.Action == "note.read" {
			n++
			if a.Actor != "box:"+boxA {
				t.Errorf("note.read by %q", a.Actor)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d note.read audit entries, want 1", n)
	}
}
