package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/cunbo/cunbo/firmware/state"
)

// WiFiSetup is the box's setup hotspot as the page sees it (firmware/wifi
// through the app): when the box knows no network it offers its own, her
// phone joins it, and she picks her new router and types its password.
type WiFiSetup interface {
	WiFiView() WiFiView
	// JoinWiFi queues her network; it returns a WiFiRefusal for one that
	// cannot work, ErrWiFiBusy while another is being tried.
	JoinWiFi(ssid, password string) error
}

// WiFiView is GET /api/wifi.
type WiFiView struct {
	// Hotspot: the box is its own access point now (no network).
	Hotspot bool   `json:"hotspot"`
	SSID    string `json:"ssid,omitempty"`
	// Nearby are the Wi-Fi names the box saw, strongest first.
	Nearby  []WiFiNearby `json:"nearby"`
	Joining string       `json:"joining,omitempty"`
	Last    *WiFiResult  `json:"last,omitempty"`
}

// WiFiNearby is one network in range.
type WiFiNearby struct {
	SSID    string `json:"ssid"`
	Signal  int    `json:"signal"`
	Secured bool   `json:"secured"`
}

// WiFiResult is what became of the last network she typed.
type WiFiResult struct {
	SSID    string    `json:"ssid"`
	OK      bool      `json:"ok"`
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// WiFiRefusal is a network that cannot work, in plain Chinese.
type WiFiRefusal string

func (r WiFiRefusal) Error() string { return string(r) }

// ErrWiFiBusy: a network is being tried already.
var ErrWiFiBusy = errors.New("web: a Wi-Fi network is being tried")

func (s *Server) wifiRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/wifi", s.private(s.wifiView))
	mux.Handle("POST /api/wifi/join", s.private(s.wifiJoin))
}

func (s *Server) wifiView(w http.ResponseWriter, _ *http.Request) {
	if s.opts.WiFi == nil {
		writeJSON(w, http.StatusOK, WiFiView{Nearby: []WiFiNearby{}})
		return
	}
	v := s.opts.WiFi.WiFiView()
	if v.Nearby == nil {
		v.Nearby = []WiFiNearby{}
	}
	writeJSON(w, http.StatusOK, v)
}

// wifiJoin serves POST /api/wifi/join {"ssid","password"}: answered at
// once (202), before the box leaves its hotspot and her phone drops off.
func (s *Server) wifiJoin(w http.ResponseWriter, r *http.Request) {
	if s.opts.WiFi == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "这个盒子不能在这里换 Wi-Fi"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	var body struct {
		SSID     string `json:"ssid"`
		Password string `json:"password"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		badBody(w, err)
		return
	}
	if st := s.opts.Box.Status().State; onAir(st) || st == state.Starting {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "直播的时候不能换 Wi-Fi，下播以后再试"})
		return
	}
	err := s.opts.WiFi.JoinWiFi(strings.TrimSpace(body.SSID), body.Password)
	var refusal WiFiRefusal
	switch {
	case errors.As(err, &refusal):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": string(refusal)})
		return
	case errors.Is(err, ErrWiFiBusy):
		writeJSON(w, http.StatusConflict, map[string]string{"error": "正在连另一个 Wi-Fi，请等一下"})
		return
	case err != nil:
		s.log.Error("wifi join not queued", "ssid", body.SSID, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "盒子出错了，请再试一次"})
		return
	}
	// Never the password.
	s.log.Info("wifi join from the phone page", "ssid", body.SSID)
	writeJSON(w, http.StatusAccepted, map[string]string{"joining": body.SSID})
}
