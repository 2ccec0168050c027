package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/sharedtest"
)

// practicePipeline can also practise (firmware.Practicer).
type practicePipeline struct{ pipeline }

func (p *practicePipeline) Practice(ctx context.Context) error { return nil }

// lab is the practice lab as the web layer sees it: its scenarios and the
// choice the phone made.
type lab struct {
	scenarios []web.PracticeScenario
	mu        sync.Mutex
	chosen    []string // every ChoosePractice call, in order
}

func (l *lab) PracticeView() web.PracticeView {
	return web.PracticeView{Scenarios: l.scenarios}
}

func (l *lab) ChoosePractice(id string) error {
	if id != "" && !func() bool {
		for _, s := range l.scenarios {
			if s.ID == id {
				return true
			}
		}
		return false
	}() {
		return fmt.Errorf("lab: %q: %w", id, web.ErrUnknownScenario)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.chosen = append(l.chosen, id)
	return nil
}

func (l *lab) choices() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.chosen...)
}

var (
	honey  = web.PracticeScenario{ID: "aaa111", Icon: "🍯", Name: "卖蜂蜜", Questions: 5, Products: []string{"野生蜂蜜"}}
	tempts = web.PracticeScenario{ID: "bbb222", Icon: "2️⃣", Name: "诱导的问题", Questions: 3, Products: []string{}}
)

// POST /api/practice/start: only an idle box starts a practice, and only
// with a scenario it has; every refusal is in her words and starts
// nothing, and chooses nothing that a later practice could take.
func TestPracticeStartChoice(t *testing.T) {
	tests := []struct {
		name      string
		scenarios []web.PracticeScenario
		live      bool // she is live when she asks
		body      string
		code      int
		want      state.State
		chosen    []string
		error     string // part of the refusal
	}{
		{name: "the second of two", scenarios: []web.PracticeScenario{honey, tempts}, body: `{"scenario":"bbb222"}`,
			code: http.StatusOK, want: state.Practice, chosen: []string{"bbb222"}},
		{name: "the next in turn", scenarios: []web.PracticeScenario{honey, tempts}, body: `{"scenario":""}`,
			code: http.StatusOK, want: state.Practice, chosen: []string{""}},
		{name: "only one scenario, none named", scenarios: []web.PracticeScenario{honey}, body: ``,
			code: http.StatusOK, want: state.Practice, chosen: []string{""}},
		{name: "unknown (a list from before a new bundle)", scenarios: []web.PracticeScenario{honey, tempts},
			body: `{"scenario":"ccc333"}`, code: http.StatusConflict, want: state.Idle, error: "请重新选一个"},
		{name: "while live", scenarios: []web.PracticeScenario{honey, tempts}, live: true, body: `{"scenario":"bbb222"}`,
			code: http.StatusConflict, want: state.Live, error: "正在直播，不能练习"},
		{name: "JSON and more", scenarios: []web.PracticeScenario{honey, tempts}, body: `{"scenario":"bbb222"} {}`,
			code: http.StatusBadRequest, want: state.Idle},
		{name: "a body that is not JSON", scenarios: []web.PracticeScenario{honey, tempts}, body: `scenario=bbb222`,
			code: http.StatusBadRequest, want: state.Idle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &lab{scenarios: tt.scenarios}
			r := newPracticeRig(t, l)
			c := r.client(t)
			r.login(t, c, "246813")
			if tt.live {
				if code, body := press(t, c, r.hs.URL, "big", "short"); code != http.StatusOK {
					t.Fatalf("开播: %d %s", code, body)
				}
				waitState(t, r, state.Live)
			}
			resp, err := c.Post(r.hs.URL+"/api/practice/start", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tt.code)
			}
			var got struct {
				Error     string                 `json:"error"`
				Scenarios []web.PracticeScenario `json:"scenarios"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("answer %s: %v", b, err)
			}
			if !strings.Contains(got.Error, tt.error) {
				t.Errorf("error %q, want it to say %q", got.Error, tt.error)
			}
			if resp.StatusCode == http.StatusConflict && !tt.live && len(got.Scenarios) != len(tt.scenarios) {
				t.Errorf("refusal lists %d scenarios to choose again from, want %d", len(got.Scenarios), len(tt.scenarios))
			}
			waitState(t, r, tt.want)
			time.Sleep(100 * time.Millisecond) // a wrongly posted start would have been taken by now
			if st := r.box.Status().State; st != tt.want {
				t.Errorf("box %s, want %s", st, tt.want)
			}
			if ch := l.choices(); fmt.Sprint(ch) != fmt.Sprint(tt.chosen) {
				t.Errorf("choices %q, want %q", ch, tt.chosen)
			}
		})
	}
}

// GET /api/practice lists the scenarios; a start needs the PIN.
func TestPracticeViewListsScenarios(t *testing.T) {
	l := &lab{scenarios: []web.PracticeScenario{honey, tempts}}
	r := newPracticeRig(t, l)
	c := r.client(t)
	resp, err := c.Post(r.hs.URL+"/api/practice/start", "application/json", strings.NewReader(`{"scenario":"aaa111"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(l.choices()) != 0 {
		t.Fatalf("start without the PIN: %s, choices %q", resp.Status, l.choices())
	}
	r.login(t, c, "246813")
	code, b := get(t, c, r.hs.URL+"/api/practice")
	var v web.PracticeView
	if err := json.Unmarshal(b, &v); code != http.StatusOK || err != nil {
		t.Fatalf("%d %s: %v", code, b, err)
	}
	if len(v.Scenarios) != 2 || v.Scenarios[1].Name != "诱导的问题" || v.Scenarios[0].Questions != 5 ||
		v.Scenarios[0].Products[0] != "野生蜂蜜" {
		t.Errorf("scenarios %+v", v.Scenarios)
	}
}

func newPracticeRig(t *testing.T, src web.PracticeSource) *rig {
	t.Helper()
	v := hw.NewVirtual(nil)
	pl := &practicePipeline{}
	box, err := firmware.NewBox(firmware.Options{Pipeline: pl, LED: v.LED, Ring: v.Ring})
	if err != nil {
		t.Fatal(err)
	}
	sharedtest.Run(t, "Box.Run", 30*time.Second, sharedtest.CanceledIsClean(box.Run))
	srv, err := web.New(web.Options{Box: box, PIN: "246813", Practice: src, StatusInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &rig{srv: srv, hs: hs, pl: &pl.pipeline, box: box}
}

// Whatever the body, a start is answered, and a scenario is chosen only
// when the answer is 200 and the body named one the box has (or none).
func FuzzPracticeStart(f *testing.F) {
	for _, s := range []string{`{"scenario":"aaa111"}`, `{"scenario":""}`, ``, `{"scenario":"zzz"}`, `{"scenario":1}`,
		`{"scenario":"aaa111"} trailing`, `scenario=aaa111`, `{"scenario":" bbb222 "}`} {
		f.Add(s)
	}
	l := &lab{scenarios: []web.PracticeScenario{honey, tempts}}
	srv, err := web.New(web.Options{Box: fixedBox{st: firmware.Status{State: state.Idle}}, PIN: "246813", Practice: l})
	if err != nil {
		f.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	f.Cleanup(hs.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Post(hs.URL+"/api/login", "application/json", strings.NewReader(`{"pin":"246813"}`))
	if err != nil {
		f.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		f.Fatalf("login: %s", resp.Status)
	}
	f.Fuzz(func(t *testing.T, body string) {
		before := len(l.choices())
		resp, err := c.Post(hs.URL+"/api/practice/start", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ch := l.choices()
		chose := len(ch) > before
		if (resp.StatusCode == http.StatusOK) != chose {
			t.Fatalf("%q: %d %s, chose %v", body, resp.StatusCode, b, chose)
		}
		if !chose {
			var e struct{ Error string }
			if json.Unmarshal(b, &e) != nil || e.Error == "" {
				t.Fatalf("%q: refused without a reason: %d %s", body, resp.StatusCode, b)
			}
			return
		}
		if id := ch[len(ch)-1]; id != "" && id != honey.ID && id != tempts.ID {
			t.Fatalf("%q chose %q", body, id)
		}
	})
}
