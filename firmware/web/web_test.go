package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/sharedtest"
)

// pipeline is a stand-in media pipeline: the web layer only needs the box
// to change state; the real pipeline is exercised in firmware/app.
type pipeline struct {
	mu   sync.Mutex
	card int
	live atomic.Bool
}

func (p *pipeline) GoLive(ctx context.Context) error { p.live.Store(true); return nil }
func (p *pipeline) End() error                       { p.live.Store(false); return nil }
func (p *pipeline) NextCard() error                  { p.mu.Lock(); p.card++; p.mu.Unlock(); return nil }
func (p *pipeline) PrevCard() error                  { p.mu.Lock(); p.card--; p.mu.Unlock(); return nil }
func (p *pipeline) HideCard() error                  { return nil }
func (p *pipeline) Mark() error                      { return nil }
func (p *pipeline) cardIndex() int                   { p.mu.Lock(); defer p.mu.Unlock(); return p.card }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type rig struct {
	srv   *web.Server
	hs    *httptest.Server
	pl    *pipeline
	clock *clock
	box   *firmware.Box
}

func newRig(t *testing.T, preview http.Handler) *rig {
	t.Helper()
	v := hw.NewVirtual(nil)
	pl := &pipeline{}
	box, err := firmware.NewBox(firmware.Options{Pipeline: pl, LED: v.LED, Ring: v.Ring})
	if err != nil {
		t.Fatal(err)
	}
	sharedtest.Run(t, "Box.Run", 30*time.Second, sharedtest.CanceledIsClean(box.Run))
	clk := &clock{now: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	srv, err := web.New(web.Options{
		Box: box, PIN: "246813", Preview: preview, Now: clk.Now, StatusInterval: 50 * time.Millisecond,
		Details: func() web.Details {
			return web.Details{Destination: "rtmp://push.example.com/live/" + web.MaskKey("secret-key-1234"),
				BitrateKbps: 2500, Card: &web.Card{Index: pl.cardIndex(), Name: "雷山蜂蜜", Visible: true},
				Captions: web.Captions{On: true}}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close) // before the box stops: cleanups run last first
	return &rig{srv: srv, hs: hs, pl: pl, clock: clk, box: box}
}

func (r *rig) client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func (r *rig) login(t *testing.T, c *http.Client, pin string) *http.Response {
	t.Helper()
	resp, err := c.Post(r.hs.URL+"/api/login", "application/json", strings.NewReader(`{"pin":"`+pin+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func get(t *testing.T, c *http.Client, url string) (int, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestPINGuardsEveryAPI(t *testing.T) {
	r := newRig(t, nil)
	c := r.client(t)
	// The page itself loads without a session (it asks for the PIN).
	if code, body := get(t, c, r.hs.URL+"/"); code != 200 || !strings.Contains(string(body), "请输入盒子背面标签上的密码") {
		t.Fatalf("GET /: %d", code)
	}
	for _, req := range []struct{ method, path string }{
		{"GET", "/api/status"}, {"GET", "/api/events"}, {"POST", "/api/button/big"},
		{"POST", "/api/whep"}, {"DELETE", "/api/whep/abc"},
	} {
		rq, _ := http.NewRequest(req.method, r.hs.URL+req.path, nil)
		resp, err := c.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a session: %d, want 401", req.method, req.path, resp.StatusCode)
		}
	}
	if st := r.box.Status().State; st != state.Idle {
		t.Fatalf("an unauthenticated press changed the box: %s", st)
	}
	if resp := r.login(t, c, "1111"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong PIN: %d", resp.StatusCode)
	}
	resp := r.login(t, c, "246813")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("right PIN: %d", resp.StatusCode)
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == web.CookieName {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || len(cookie.Value) < 32 || cookie.MaxAge <= 0 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, random token, expiry", cookie)
	}
	code, body := get(t, c, r.hs.URL+"/api/status")
	if code != 200 {
		t.Fatalf("status with session: %d %s", code, body)
	}
	var st web.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.State != state.Idle || st.Label != "未开播" || st.Destination != "rtmp://push.example.com/live/****" ||
		st.BitrateKbps != 2500 || st.Card == nil || st.Card.Name != "雷山蜂蜜" || !st.Captions.On {
		t.Fatalf("status %+v", st)
	}
	// A forged cookie is not a session.
	c2 := r.client(t)
	rq, _ := http.NewRequest("GET", r.hs.URL+"/api/status", nil)
	rq.AddCookie(&http.Cookie{Name: web.CookieName, Value: cookie.Value + "x"})
	if resp, err := c2.Do(rq); err != nil || resp.StatusCode != 401 {
		t.Fatalf("forged cookie: %v %v", resp.StatusCode, err)
	}
	// Sessions expire.
	r.clock.Advance(13 * time.Hour)
	if code, _ := get(t, c, r.hs.URL+"/api/status"); code != 401 {
		t.Fatalf("expired session: %d, want 401", code)
	}
	// Logging out ends a session.
	r.login(t, c, "246813")
	if resp, err := c.Post(r.hs.URL+"/api/logout", "", nil); err != nil || resp.StatusCode != 204 {
		t.Fatalf("logout: %v", err)
	}
	rq, _ = http.NewRequest("GET", r.hs.URL+"/api/status", nil)
	rq.AddCookie(cookie)
	if resp, _ := c2.Do(rq); resp.StatusCode != 401 {
		t.Fatal("old cookie still valid")
	}
}

func TestWrongPINsAreRateLimited(t *testing.T) {
	r := newRig(t, nil)
	c := r.client(t)
	for i := range 4 {
		if resp := r.login(t, c, "0000"); resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	resp := r.login(t, c, "0000")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "30" {
		t.Fatalf("5th wrong PIN: %d Retry-After %q, want 429 30", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Locked out even with the right PIN.
	if resp := r.login(t, c, "246813"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right PIN while locked: %d", resp.StatusCode)
	}
	r.clock.Advance(31 * time.Second)
	for range 5 {
		resp = r.login(t, c, "9999")
	}
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "60" {
		t.Fatalf("second lockout: %d %q, want 429 and a doubled wait", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	r.clock.Advance(61 * time.Second)
	if resp := r.login(t, c, "246813"); resp.StatusCode != 204 {
		t.Fatalf("right PIN after the lockout: %d", resp.StatusCode)
	}
}

func press(t *testing.T, c *http.Client, base, button, kind string) (int, string) {
	t.Helper()
	resp, err := c.Post(base+"/api/button/"+button+"?press="+kind, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitState(t *testing.T, r *rig, want state.State) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for r.box.Status().State != want {
		if time.Now().After(deadline) {
			t.Fatalf("state %s, want %s", r.box.Status().State, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestButtons(t *testing.T) {
	r := newRig(t, nil)
	c := r.client(t)
	r.login(t, c, "246813")
	cases := []struct {
		button, press string
		code          int
		after         state.State
	}{
		{"big", "short", 200, state.Live},
		{"big", "short", 200, state.Live}, // a tap while live does nothing harmful
		{"next", "short", 200, state.Live},
		{"mark", "long", 200, state.Live}, // no meaning: ignored like the real button
		{"big", "sideways", 400, state.Live},
		{"volume", "short", 404, state.Live},
		{"big", "long", 200, state.Idle},
	}
	for _, tc := range cases {
		code, body := press(t, c, r.hs.URL, tc.button, tc.press)
		if code != tc.code {
			t.Fatalf("%s %s: %d %s, want %d", tc.button, tc.press, code, body, tc.code)
		}
		waitState(t, r, tc.after)
	}
	if r.pl.cardIndex() != 1 {
		t.Fatalf("card index %d after one next", r.pl.cardIndex())
	}
}

// sse reads events from /api/events.
type sse struct {
	events chan [2]string
}

func openSSE(t *testing.T, ctx context.Context, c *http.Client, url string) *sse {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	cc := *c
	cc.Timeout = 0
	resp, err := cc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{events: make(chan [2]string, 64)}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				s.events <- [2]string{name, strings.TrimPrefix(line, "data: ")}
			}
		}
	}()
	return s
}

func (s *sse) next(t *testing.T, name string, ok func(data string) bool) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e, open := <-s.events:
			if !open {
				t.Fatalf("events stream closed waiting for %s", name)
			}
			if e[0] == name && ok(e[1]) {
				return e[1]
			}
		case <-timeout:
			t.Fatalf("no %s event", name)
		}
	}
}

func TestEventsCarryStatusAndInjectedWarnings(t *testing.T) {
	r := newRig(t, nil)
	c := r.client(t)
	r.login(t, c, "246813")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openSSE(t, ctx, c, r.hs.URL+"/api/events")
	s.next(t, "status", func(d string) bool { return strings.Contains(d, `"state":"idle"`) })

	press(t, c, r.hs.URL, "big", "short")
	s.next(t, "status", func(d string) bool { return strings.Contains(d, `"label":"直播中"`) })

	// A card change comes from the pipeline, not the box: the stream
	// notices it too.
	press(t, c, r.hs.URL, "next", "short")
	s.next(t, "status", func(d string) bool { return strings.Contains(d, `"index":1`) })

	var sink web.WarningSink = r.srv
	w := web.WarningCard{Said: "我们的蜂蜜是全国最好的", Match: "最好", Category: "absolute", CategoryName: "绝对化用语",
		Explain: "广告不能说“最好”", Suggest: "我们的蜂蜜很受欢迎", Law: "《广告法》第九条"}
	sink.PublishWarning(w)
	data := s.next(t, "warning", func(string) bool { return true })
	var got web.WarningCard
	if err := json.Unmarshal([]byte(data), &got); err != nil {
		t.Fatal(err)
	}
	if got.Said != w.Said || got.Match != w.Match || got.CategoryName != w.CategoryName || got.Suggest != w.Suggest ||
		got.Law != w.Law || got.At.IsZero() {
		t.Fatalf("warning %+v", got)
	}
	st := r.srv.Status()
	if len(st.Warnings) != 1 || st.Warnings[0].Said != w.Said {
		t.Fatalf("status warnings %+v", st.Warnings)
	}
	// Warnings never block: a flood with nobody reading is bounded (each
	// a different problem: a repeat only counts up its card).
	for i := range 100 {
		w.Rule = strconv.Itoa(i)
		r.srv.PublishWarning(w)
	}
	if n := len(r.srv.Status().Warnings); n != 20 {
		t.Fatalf("%d warnings kept, want 20", n)
	}
}

func TestPreviewMount(t *testing.T) {
	var got atomic.Value
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Method + " " + r.URL.Path)
		w.WriteHeader(http.StatusCreated)
	})
	r := newRig(t, h)
	c := r.client(t)
	r.login(t, c, "246813")
	resp, err := c.Post(r.hs.URL+"/api/whep", "application/sdp", strings.NewReader("v=0"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || got.Load() != "POST /api/whep" {
		t.Fatalf("whep POST: %d %v", resp.StatusCode, got.Load())
	}
	rq, _ := http.NewRequest("DELETE", r.hs.URL+"/api/whep/abc", nil)
	if resp, err = c.Do(rq); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got.Load() != "DELETE /api/whep/abc" {
		t.Fatalf("whep DELETE reached %v", got.Load())
	}

	r2 := newRig(t, nil)
	c2 := r2.client(t)
	r2.login(t, c2, "246813")
	resp, _ = c2.Post(r2.hs.URL+"/api/whep", "application/sdp", strings.NewReader("v=0"))
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("no preview: %d, want 503", resp.StatusCode)
	}
}

func TestMaskKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// None of a key shows, nor its length.
		{"", ""}, {"abc", "****"}, {"abcde", "****"},
		{"live_123456789_abcdefgh", "****"}, {"密钥一二三四五", "****"},
	} {
		if got := web.MaskKey(tc.in); got != tc.want {
			t.Errorf("MaskKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	v := hw.NewVirtual(nil)
	box, _ := firmware.NewBox(firmware.Options{Pipeline: &pipeline{}, LED: v.LED, Ring: v.Ring})
	if _, err := web.New(web.Options{Box: box, PIN: "12"}); err == nil {
		t.Fatal("short PIN accepted")
	}
	if _, err := web.New(web.Options{PIN: "1234"}); err == nil {
		t.Fatal("no box accepted")
	}
}

// fixedBox is a box frozen in one state.
type fixedBox struct{ st firmware.Status }

func (b fixedBox) Status() firmware.Status { return b.st }
func (b fixedBox) Subscribe() (<-chan firmware.Status, func()) {
	return make(chan firmware.Status), func() {}
}
func (b fixedBox) Post(state.Event, string) error { return nil }

// TestWeakNetworkNote: the plain sentence shows only while on air with a
// reduced picture; the trainer's numbers are in the status either way.
func TestWeakNetworkNote(t *testing.T) {
	at := time.Date(2026, 11, 28, 20, 0, 0, 0, time.UTC)
	dests := []web.Destination{
		{Name: "抖音", Kind: "rtmp", Connected: true, SentKbps: 310},
		{Name: "视频号", Kind: "whip", LastError: "whip: POST: 401", LastErrorAt: &at},
	}
	for _, tc := range []struct {
		name    string
		state   state.State
		reduced bool
		want    string
	}{
		{"live, full picture", state.Live, false, ""},
		{"live, reduced", state.Live, true, web.WeakNetworkNote},
		{"degraded, reduced", state.Degraded, true, web.WeakNetworkNote},
		{"reconnecting, reduced", state.Reconnecting, true, web.WeakNetworkNote},
		{"idle, reduced (switching back)", state.Idle, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := web.New(web.Options{Box: fixedBox{firmware.Status{State: tc.state}}, PIN: "246813",
				Details: func() web.Details {
					return web.Details{BitrateKbps: 310, Destinations: dests,
						Video: &web.Video{Kbps: 300, Width: 640, Height: 360, FPS: 25, Reduced: tc.reduced, Limiter: "视频号"}}
				}})
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(srv.Status())
			if err != nil {
				t.Fatal(err)
			}
			var st map[string]any
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatal(err)
			}
			got, _ := st["network_note"].(string)
			if got != tc.want {
				t.Errorf("network_note %q, want %q", got, tc.want)
			}
			v, _ := st["video"].(map[string]any)
			if v["kbps"] != 300.0 || v["width"] != 640.0 || v["height"] != 360.0 || v["limiter"] != "视频号" {
				t.Errorf("video %v", v)
			}
			ds, _ := st["destinations"].([]any)
			if len(ds) != 2 {
				t.Fatalf("destinations %v", st["destinations"])
			}
			d1 := ds[1].(map[string]any)
			if d1["connected"] != false || d1["last_error"] != "whip: POST: 401" || d1["last_error_at"] == nil {
				t.Errorf("destination %v", d1)
			}
		})
	}
	// Off air with no details the list is empty, not null.
	srv, err := web.New(web.Options{Box: fixedBox{firmware.Status{State: state.Idle}}, PIN: "246813"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(srv.Status()); !strings.Contains(string(b), `"destinations":[]`) {
		t.Errorf("status %s, want an empty destinations list", b)
	}
}
