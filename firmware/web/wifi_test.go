package web_test

import (
	"errors"
	"io"
	"net/http"
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

type wifiSetup struct {
	mu     sync.Mutex
	err    error
	joined []string
}

func (w *wifiSetup) WiFiView() web.WiFiView {
	return web.WiFiView{Hotspot: true, SSID: "村播-ab12", Nearby: []web.WiFiNearby{{SSID: "阿秀新家", Signal: 80, Secured: true}}}
}

func (w *wifiSetup) JoinWiFi(ssid, password string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.joined = append(w.joined, ssid+"/"+password)
	return nil
}

func TestWiFiJoinAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    *wifiSetup // nil: a box without the hotspot
		live     bool
		body     string
		code     int
		contains string
	}{
		{name: "queued", setup: &wifiSetup{}, body: `{"ssid":"阿秀新家","password":"xiu-pw-2026"}`, code: http.StatusAccepted},
		{name: "refused in her words", setup: &wifiSetup{err: web.WiFiRefusal("Wi-Fi 密码要 8 到 63 位")},
			body: `{"ssid":"阿秀新家","password":"1"}`, code: http.StatusBadRequest, contains: "8 到 63 位"},
		{name: "busy", setup: &wifiSetup{err: web.ErrWiFiBusy}, body: `{"ssid":"a","password":"12345678"}`,
			code: http.StatusConflict, contains: "等一下"},
		{name: "broken box", setup: &wifiSetup{err: errors.New("nmcli: exit 8")}, body: `{"ssid":"a","password":"12345678"}`,
			code: http.StatusInternalServerError, contains: "再试"},
		{name: "not JSON", setup: &wifiSetup{}, body: `ssid=a`, code: http.StatusBadRequest},
		{name: "unknown field", setup: &wifiSetup{}, body: `{"ssid":"a","psk":"12345678"}`, code: http.StatusBadRequest},
		{name: "too large", setup: &wifiSetup{}, body: `{"ssid":"` + strings.Repeat("a", 5000) + `"}`, code: http.StatusRequestEntityTooLarge},
		{name: "never while live", setup: &wifiSetup{}, live: true, body: `{"ssid":"a","password":"12345678"}`,
			code: http.StatusConflict, contains: "直播"},
		{name: "no hotspot on this box", body: `{"ssid":"a","password":"12345678"}`, code: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := hw.NewVirtual(nil)
			box, err := firmware.NewBox(firmware.Options{Pipeline: &pipeline{}, LED: v.LED, Ring: v.Ring})
			if err != nil {
				t.Fatal(err)
			}
			sharedtest.Run(t, "Box.Run", 30*time.Second, sharedtest.CanceledIsClean(box.Run))
			opts := web.Options{Box: box, PIN: "246813"}
			if tc.setup != nil {
				opts.WiFi = tc.setup
			}
			srv, err := web.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(srv)
			t.Cleanup(hs.Close)
			r := &rig{srv: srv, hs: hs, box: box}
			c := r.client(t)
			if resp := r.login(t, c, "246813"); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("login: %d", resp.StatusCode)
			}
			if tc.live {
				if err := box.Post(state.BigShort, ""); err != nil {
					t.Fatal(err)
				}
				waitState(t, r, state.Live)
			}
			resp, err := c.Post(hs.URL+"/api/wifi/join", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.contains) {
				t.Fatalf("POST /api/wifi/join %s = %d %s; want %d with %q", tc.body, resp.StatusCode, b, tc.code, tc.contains)
			}
			if tc.setup != nil && tc.code != http.StatusAccepted && tc.setup.err == nil && len(tc.setup.joined) > 0 {
				t.Fatalf("a refused request reached the box: %q", tc.setup.joined)
			}
			if code, body := get(t, c, hs.URL+"/api/wifi"); code != http.StatusOK || !strings.Contains(string(body), `"nearby":[`) {
				t.Fatalf("GET /api/wifi = %d %s", code, body)
			}
		})
	}
}
