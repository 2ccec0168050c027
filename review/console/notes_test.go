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
func TestBoxNotes(t *testing.T) {
	e := newEnv(t)
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
