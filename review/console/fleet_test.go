package console_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
)

// clock is the service's clock in a test: real time moved on by Advance.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// newClockedEnv is newEnvOn with the console on clk.
func newClockedEnv(t *testing.T, backend string, clk *clock) *env {
	t.Helper()
	cfg := server.Config{DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler), Now: clk.Now}
	if backend == "postgres" {
		cfg.DB = pg.Cluster(t).NewURL(t)
	}
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{t: t, srv: srv, base: hs.URL, st: srv.Store(), boxes: map[string]enrolled{}}
}

// beat posts body as box's heartbeat with token tok.
func (e *env) beat(tok string, body string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.base+"/api/box/heartbeat", strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const goodBeat = `{"version":"1.4.0","config_version":3,"uptime_s":3600,"disk_free_bytes":20000000000,"disk_free_pct":62.5,
 "temp_c":51.2,"throttled":false,"throttled_since_boot":false,
 "last_live":{"ended":"2026-12-06T10:00:00Z","stall_pct":0.4,"mean_kbps":2400},
 "speech_restarts":0,"queue_len":0,"queue_age_s":0}`

// withField is goodBeat with one field replaced (raw JSON).
func withField(t *testing.T, field, raw string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(goodBeat), &m); err != nil {
		t.Fatal(err)
	}
	m[field] = json.RawMessage(raw)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The heartbeat endpoint: a box's token, a valid body within limits, a
// clear error for anything else, and nothing stored from a refused one.
func TestHeartbeatEndpoint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.addUser("sw-a", store.RoleSocial)
		boxA := e.addBox("雷山 村A", "sw-a")
		tok := e.token("雷山 村A")
		for _, tc := range []struct {
			name, tok, body string
			code            int
			err             string
		}{
			{"no token", "", goodBeat, 401, ""},
			{"a wrong token", strings.Repeat("x", 43), goodBeat, 401, ""},
			{"not JSON", tok, "version=1", 400, "one heartbeat as JSON"},
			{"two values", tok, goodBeat + goodBeat, 400, "nothing after it"},
			{"empty", tok, "", 400, "one heartbeat as JSON"},
			{"no version", tok, withField(t, "version", `""`), 400, "version"},
			{"a version with a newline", tok, withField(t, "version", `"1.0\n"`), 400, "version"},
			{"a long version", tok, withField(t, "version", `"`+strings.Repeat("9", 65)+`"`), 400, "version"},
			{"negative config version", tok, withField(t, "config_version", `-1`), 400, "config_version"},
			{"negative uptime", tok, withField(t, "uptime_s", `-5`), 400, "uptime_s"},
			{"disk over 100 %", tok, withField(t, "disk_free_pct", `100.5`), 400, "disk_free_pct"},
			{"negative disk", tok, withField(t, "disk_free_bytes", `-1`), 400, "disk_free_bytes"},
			{"a sun-hot box", tok, withField(t, "temp_c", `1000`), 400, "temp_c"},
			{"a string for a number", tok, withField(t, "speech_restarts", `"3"`), 400, "one heartbeat as JSON"},
			{"negative queue age", tok, withField(t, "queue_age_s", `-60`), 400, "queue_age_s"},
			{"stall over 100 %", tok, withField(t, "last_live", `{"ended":"2026-12-06T10:00:00Z","stall_pct":101,"mean_kbps":1}`), 400, "stall_pct"},
			{"a live that never ended", tok, withField(t, "last_live", `{"stall_pct":1,"mean_kbps":1}`), 400, "last_live.ended"},
			{"too big", tok, withField(t, "extra", `"`+strings.Repeat("a", 5000)+`"`), 413, "at most"},
		} {
			code, body := e.beat(tc.tok, tc.body)
			if code != tc.code || !strings.Contains(body, tc.err) {
				t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.code, tc.err)
			}
		}
		if hs, err := e.st.Heartbeats(context.Background(), boxA, 10); err != nil || len(hs) != 0 {
			t.Fatalf("refused heartbeats stored: %d, %v", len(hs), err)
		}
		// Unknown temperature (a PC) and no live yet are fine; a newer
		// box's extra field is ignored and not kept.
		for _, body := range []string{goodBeat, withField(t, "temp_c", "null"), withField(t, "last_live", "null"), withField(t, "wifi_dbm", "-60")} {
			if code, resp := e.beat(tok, body); code != 200 || !strings.Contains(resp, `"at"`) {
				t.Fatalf("a good heartbeat: %d %s", code, resp)
			}
		}
		hs, err := e.st.Heartbeats(context.Background(), boxA, 10)
		if err != nil || len(hs) != 4 {
			t.Fatalf("%d heartbeats stored, %v; want 4", len(hs), err)
		}
		if bytes.Contains(hs[0].Report, []byte("wifi_dbm")) {
			t.Errorf("an unknown field was kept: %s", hs[0].Report)
		}
		// A revoked box is refused.
		if err := e.st.RevokeBox(context.Background(), boxA, time.Now()); err != nil {
			t.Fatal(err)
		}
		if code, _ := e.beat(tok, goodBeat); code != 401 && code != 403 {
			t.Errorf("a revoked box's heartbeat: %d", code)
		}
	})
}

// fleetOrder reads the page's boxes in order as "state:name".
var fleetItem = regexp.MustCompile(`data-box="[0-9a-f]+" data-state="(\w+)">\s*<b>📦 ([^<]+)</b>`)

func fleetRows(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	for _, m := range fleetItem.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+":"+m[2])
	}
	return out
}

// The fleet page: each box's state and reasons from its newest heartbeat
// and the service's clock, worst first; the metrics count the same.
func TestFleetPage(t *testing.T) {
	for _, be := range []string{"sqlite", "postgres"} {
		t.Run(be, func(t *testing.T) {
			clk := &clock{}
			e := newClockedEnv(t, be, clk)
			e.addUser("sw-a", store.RoleSocial)
			e.addUser("trainer", store.RoleTrainer)
			e.addUser("admin", store.RoleAdmin)
			boxes := map[string]string{
				"正常":   goodBeat,
				"满":    withField(t, "disk_free_pct", "7.5"),
				"传不上":  withField(t, "queue_age_s", "200000"),
				"重启":   withField(t, "speech_restarts", "3"),
				"卡":    withField(t, "last_live", `{"ended":"2026-12-06T10:00:00Z","stall_pct":6.4,"mean_kbps":900}`),
				"热":    withField(t, "temp_c", "82"),
				"降速":   withField(t, "throttled", "true"),
				"快满但好": withField(t, "disk_free_pct", "10"),
			}
			for name := range boxes {
				e.addBox(name, "sw-a")
			}
			e.addBox("失联", "sw-a")
			// The silent box reports first, then the clock moves on two
			// days and the others report.
			if code, b := e.beat(e.token("失联"), goodBeat); code != 200 {
				t.Fatalf("heartbeat: %d %s", code, b)
			}
			clk.Advance(48 * time.Hour)
			for name, body := range boxes {
				if code, b := e.beat(e.token(name), body); code != 200 {
					t.Fatalf("heartbeat of %s: %d %s", name, code, b)
				}
			}
			clk.Advance(24*time.Hour + time.Minute)
			ss := e.signIn("trainer", "admin", "sw-a")
			code, body, _ := e.send(ss["trainer"], "GET", "/console/fleet", nil)
			if code != 200 {
				t.Fatalf("fleet page: %d", code)
			}
			rows := fleetRows(t, body)
			if len(rows) != 9 || rows[0] != "lost:失联" {
				t.Fatalf("rows %v, want 9 with the lost box first", rows)
			}
			state := map[string]string{}
			for i, r := range rows {
				s, n, _ := strings.Cut(r, ":")
				state[n] = s
				if i > 0 && s == "lost" {
					t.Errorf("row %d %s after another's", i, r)
				}
				if s == "ok" && i < len(rows)-2 {
					t.Errorf("a good box at row %d before the ones needing attention: %v", i, rows)
				}
			}
			for n, want := range map[string]string{"正常": "ok", "快满但好": "ok", "满": "attention", "传不上": "attention",
				"重启": "attention", "卡": "attention", "热": "attention", "降速": "attention"} {
				if state[n] != want {
					t.Errorf("%s: %s, want %s", n, state[n], want)
				}
			}
			for _, reason := range []string{"已经 3 天没有消息了", "存储卡快满了：只剩 8%", "有片段 2 天没传上来", "听话的程序老是重启（开机以来 3 次）",
				"上一场直播卡顿太多（6% 的时间）", "盒子太热：82 °C", "正在降速"} {
				if !strings.Contains(body, reason) {
					t.Errorf("the page does not say %q", reason)
				}
			}
			if code, _, _ := e.send(ss["admin"], "GET", "/console/fleet", nil); code != 200 {
				t.Errorf("admin: %d", code)
			}
			if code, _, _ := e.send(ss["sw-a"], "GET", "/console/fleet", nil); code != 403 {
				t.Errorf("social worker: %d", code)
			}
			resp, err := http.Get(e.base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			m, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range []string{`cunbo_review_fleet_boxes{state="lost"} 1`, `cunbo_review_fleet_boxes{state="attention"} 6`, `cunbo_review_fleet_boxes{state="ok"} 2`} {
				if !strings.Contains(string(m), line) {
					t.Errorf("metrics lack %s", line)
				}
			}
		})
	}
}

// Re-keying: the replacement takes the old box's name and social worker,
// the old one is revoked; a bad key is refused with the typed text kept.
func TestFleetReplace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.addUser("sw-a", store.RoleSocial)
		e.addUser("trainer", store.RoleTrainer)
		old := e.addBox("雷山 村A", "sw-a")
		other := e.addBox("雷山 村B", "sw-a")
		ss := e.signIn("trainer")
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key := hex.EncodeToString(pub)
		for _, tc := range []struct {
			name, box, key string
			code           int
			says           string
		}{
			{"not hex", old, "这不是号码", 400, "新盒子的号码不对"},
			{"too short", old, key[:40], 400, "新盒子的号码不对"},
			{"far too long", old, strings.Repeat("ab", 400), 400, "太长了"},
			{"an enrolled box's key", old, hex.EncodeToString(e.boxes["雷山 村B"].priv.Public().(ed25519.PublicKey)), 400, "已经登记过了"},
			{"an unknown old box", strings.Repeat("0", 32), key, 404, "找不到这个盒子"},
		} {
			code, body, _ := e.send(ss["trainer"], "POST", "/console/fleet/replace", url.Values{"box": {tc.box}, "key": {tc.key}})
			if code != tc.code || !strings.Contains(body, tc.says) {
				t.Errorf("%s: %d, want %d saying %q", tc.name, code, tc.code, tc.says)
			}
			if tc.code == 400 && tc.name != "far too long" && !strings.Contains(body, tc.key) {
				t.Errorf("%s: the typed key is not kept", tc.name)
			}
		}
		if b, _ := e.st.Box(context.Background(), old); b.IsRevoked() {
			t.Fatal("a refused replacement revoked the old box")
		}
		// As the QR code reads, with upper case and spaces.
		code, _, h := e.send(ss["trainer"], "POST", "/console/fleet/replace", url.Values{"box": {old}, "key": {" cunbo-box:" + strings.ToUpper(key[:32]) + " " + key[32:] + "\n"}})
		if code != 303 || !strings.Contains(h.Get("Location"), "msg=replaced") {
			t.Fatalf("replace: %d %q", code, h.Get("Location"))
		}
		id := boxauth.BoxID(pub)
		nb, err := e.st.Box(context.Background(), id)
		if err != nil || nb.Name != "雷山 村A" || nb.IsRevoked() {
			t.Fatalf("the new box %+v, %v", nb, err)
		}
		if w, err := e.st.Worker(context.Background(), id); err != nil || w != "sw-a" {
			t.Fatalf("the new box's worker %q, %v", w, err)
		}
		if b, _ := e.st.Box(context.Background(), old); !b.IsRevoked() {
			t.Fatal("the old box is not revoked")
		}
		if b, _ := e.st.Box(context.Background(), other); b.IsRevoked() {
			t.Fatal("another box was revoked")
		}
		// The new box signs in and reports; the fleet page lists it under
		// her name, and not the old one.
		e.boxes["新盒子"] = enrolled{id: id, priv: priv}
		if code, b := e.beat(e.token("新盒子"), goodBeat); code != 200 {
			t.Fatalf("the new box's heartbeat: %d %s", code, b)
		}
		_, body, _ := e.send(ss["trainer"], "GET", "/console/fleet?msg=replaced", nil)
		if !strings.Contains(body, `data-box="`+id+`"`) || strings.Contains(body, `data-box="`+old+`"`) || !strings.Contains(body, "新盒子已经登记好了") {
			t.Errorf("the fleet page after replacing does not show the new box alone")
		}
		es, err := e.st.Audit(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range es {
			if a.Action == "box.replace" {
				n++
				if a.Actor != "user:trainer" || a.Subject != id || !strings.Contains(a.Detail, "old="+old) {
					t.Errorf("audit entry %+v", a)
				}
			}
		}
		if n != 1 {
			t.Errorf("%d box.replace entries, want 1", n)
		}
	})
}
