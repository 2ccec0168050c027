package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/store"
)

// HeartbeatPath is where a box reports how it is doing (firmware/heartbeat):
// POST a Heartbeat as JSON with its bearer token.
const HeartbeatPath = "/api/box/heartbeat"

// The fleet page's thresholds, all in one place. A box is 失联 (lost) when
// the service has not heard from it for LostAfter; otherwise 需要注意
// (needs attention) when any of the others is crossed in its newest
// heartbeat, and 正常 when none is.
const (
	// LostAfter: a box heartbeats every 15 minutes while idle and
	// after each live; three days of silence is more than a village's
	// power or network cut, and short of the trainer's monthly visit.
	LostAfter = 72 * time.Hour
	// MinDiskFreePct: below this the box soon has no room to keep
	// flagged moments.
	MinDiskFreePct = 10.0
	// MaxQueueAge: an upload queued this long means the box cannot
	// reach the service from where it is.
	MaxQueueAge = 48 * time.Hour
	// MaxSpeechRestarts since boot: the speech worker crashing again
	// and again (the box's warnings stop while it is down).
	MaxSpeechRestarts = 3
	// MaxStallPct of the last live's time spent stalled.
	MaxStallPct = 5.0
	// MaxTempC: a Pi hotter than this throttles soon, or already does.
	MaxTempC = 80.0
)

// heartbeatKeep is how many heartbeats the service keeps per box: about
// a week of idle reports, enough to see when a trouble started.
const heartbeatKeep = 700

// maxHeartbeat bounds a heartbeat's body; a real one is a few hundred
// bytes.
const maxHeartbeat = 4 << 10

// Heartbeat is what a box reports about itself. Unknown values (no
// thermal sensor on a PC, no live yet) are null, never a made-up zero.
type Heartbeat struct {
	Version       string   `json:"version"`
	ConfigVersion int64    `json:"config_version"` // 0: no bundle applied
	UptimeS       int64    `json:"uptime_s"`
	DiskFreeBytes int64    `json:"disk_free_bytes"`
	DiskFreePct   float64  `json:"disk_free_pct"`
	TempC         *float64 `json:"temp_c"`
	// Throttled: the SoC is throttled or capped now (vcgencmd
	// get_throttled bits 0–3); ThrottledSinceBoot: it was (bits 16–19).
	Throttled          *bool     `json:"throttled"`
	ThrottledSinceBoot *bool     `json:"throttled_since_boot"`
	LastLive           *LiveLink `json:"last_live"`
	SpeechRestarts     int       `json:"speech_restarts"`
	QueueLen           int       `json:"queue_len"`
	QueueAgeS          int64     `json:"queue_age_s"` // the oldest queued upload's age; 0 when empty
}

// LiveLink is the link quality of a box's last live.
type LiveLink struct {
	Ended    time.Time `json:"ended"`
	StallPct float64   `json:"stall_pct"`
	MeanKbps float64   `json:"mean_kbps"`
}

// validate refuses what no box sends, in the words a box's journal shows.
func (h Heartbeat) validate() error {
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	const tenYears = 10 * 366 * 24 * 3600
	switch {
	case h.Version == "" || len(h.Version) > 64 || strings.IndexFunc(h.Version, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) >= 0:
		return errors.New("version must be 1 to 64 printable characters without spaces")
	case h.ConfigVersion < 0:
		return errors.New("config_version must not be negative")
	case h.UptimeS < 0 || h.UptimeS > tenYears:
		return errors.New("uptime_s must be 0 to ten years")
	case h.DiskFreeBytes < 0:
		return errors.New("disk_free_bytes must not be negative")
	case !finite(h.DiskFreePct) || h.DiskFreePct < 0 || h.DiskFreePct > 100:
		return errors.New("disk_free_pct must be 0 to 100")
	case h.TempC != nil && (!finite(*h.TempC) || *h.TempC < -50 || *h.TempC > 150):
		return errors.New("temp_c must be -50 to 150 or null")
	case h.SpeechRestarts < 0 || h.SpeechRestarts > 1_000_000:
		return errors.New("speech_restarts must be 0 to 1000000")
	case h.QueueLen < 0 || h.QueueLen > 1_000_000:
		return errors.New("queue_len must be 0 to 1000000")
	case h.QueueAgeS < 0 || h.QueueAgeS > tenYears:
		return errors.New("queue_age_s must be 0 to ten years")
	}
	if l := h.LastLive; l != nil {
		switch {
		case l.Ended.IsZero():
			return errors.New("last_live.ended is required")
		case !finite(l.StallPct) || l.StallPct < 0 || l.StallPct > 100:
			return errors.New("last_live.stall_pct must be 0 to 100")
		case !finite(l.MeanKbps) || l.MeanKbps < 0 || l.MeanKbps > 1_000_000:
			return errors.New("last_live.mean_kbps must be 0 to 1000000")
		}
	}
	return nil
}

// parseHeartbeat reads one heartbeat body. Fields a newer box adds are
// ignored (it keeps reporting what this service understands); the stored
// report is the parsed value, so they are not kept either.
func parseHeartbeat(body []byte) (Heartbeat, error) {
	var h Heartbeat
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&h); err != nil {
		return Heartbeat{}, fmt.Errorf("the body must be one heartbeat as JSON: %w", err)
	}
	if dec.More() {
		return Heartbeat{}, errors.New("the body must be one heartbeat as JSON, nothing after it")
	}
	if err := h.validate(); err != nil {
		return Heartbeat{}, err
	}
	return h, nil
}

// boxHeartbeat serves POST /api/box/heartbeat.
func (c *Console) boxHeartbeat(w http.ResponseWriter, r *http.Request) {
	b, aerr := c.auth.Authenticate(r)
	if aerr != nil {
		boxauth.WriteError(w, aerr)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxHeartbeat+1))
	if err != nil {
		boxauth.WriteError(w, &boxauth.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "the body could not be read"})
		return
	}
	if len(body) > maxHeartbeat {
		boxauth.WriteError(w, &boxauth.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("a heartbeat is at most %d bytes", maxHeartbeat)})
		return
	}
	h, err := parseHeartbeat(body)
	if err != nil {
		boxauth.WriteError(w, &boxauth.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: err.Error()})
		return
	}
	report, err := json.Marshal(h)
	if err != nil {
		c.internalBox(w, b.ID, err)
		return
	}
	now := c.now()
	if err := c.st.PutHeartbeat(r.Context(), store.Heartbeat{BoxID: b.ID, At: now, Report: report}, heartbeatKeep); err != nil {
		c.internalBox(w, b.ID, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		At time.Time `json:"at"`
	}{now})
}

func (c *Console) internalBox(w http.ResponseWriter, box string, err error) {
	c.log.Error("console: heartbeat", "box", box, "err", err)
	w.Header().Set("Retry-After", "60")
	boxauth.WriteError(w, boxauth.ErrUnavailable)
}

// Fleet states, worst first.
const (
	StateLost      = "lost"
	StateAttention = "attention"
	StateOK        = "ok"
)

var fleetStates = []struct{ State, Name, Class string }{
	{StateLost, "📵 失联", "s-new"},
	{StateAttention, "⚠️ 需要注意", "s-real"},
	{StateOK, "✅ 正常", "s-false"},
}

// fleetBox is one box on the fleet page.
type fleetBox struct {
	store.BoxOverview
	State   string
	Reasons []string // in plain words
	Seen    time.Time
	Beat    *Heartbeat
}

func (f fleetBox) StateName() string  { return stateField(f.State, 1) }
func (f fleetBox) StateClass() string { return stateField(f.State, 2) }

func stateField(s string, i int) string {
	for _, st := range fleetStates {
		if st.State == s {
			return [...]string{st.State, st.Name, st.Class}[i]
		}
	}
	return s
}

// judge gives a box its state and the reasons, from its newest heartbeat
// (nil when it never sent one) at now.
func judge(b store.Box, last *store.Heartbeat, h *Heartbeat, now time.Time) (string, []string) {
	if last == nil {
		if now.Sub(b.Added) >= LostAfter {
			return StateLost, []string{"登记以后一次也没有报到过"}
		}
		return StateAttention, []string{"还没有报到过：请开机，连上网"}
	}
	if since := now.Sub(last.At); since >= LostAfter {
		return StateLost, []string{fmt.Sprintf("已经 %d 天没有消息了（最后一次：%s）", int(since/(24*time.Hour)), when(last.At))}
	}
	var why []string
	if h.DiskFreePct < MinDiskFreePct {
		why = append(why, fmt.Sprintf("存储卡快满了：只剩 %.0f%%", h.DiskFreePct))
	}
	if h.QueueAgeS > 0 && time.Duration(h.QueueAgeS)*time.Second >= MaxQueueAge {
		why = append(why, fmt.Sprintf("有片段 %d 天没传上来", h.QueueAgeS/(24*3600)))
	}
	if h.SpeechRestarts >= MaxSpeechRestarts {
		why = append(why, fmt.Sprintf("听话的程序老是重启（开机以来 %d 次）", h.SpeechRestarts))
	}
	if l := h.LastLive; l != nil && l.StallPct > MaxStallPct {
		why = append(why, fmt.Sprintf("上一场直播卡顿太多（%.0f%% 的时间）", l.StallPct))
	}
	if h.Throttled != nil && *h.Throttled {
		why = append(why, "盒子太热或电源不够，正在降速")
	} else if h.TempC != nil && *h.TempC > MaxTempC {
		why = append(why, fmt.Sprintf("盒子太热：%.0f °C", *h.TempC))
	}
	if len(why) > 0 {
		return StateAttention, why
	}
	return StateOK, nil
}

// fleet lists the boxes in use with their states, worst first, then the
// longest unheard first.
func (c *Console) fleet(ctx context.Context) ([]fleetBox, error) {
	boxes, err := c.st.BoxesOverview(ctx)
	if err != nil {
		return nil, err
	}
	last, err := c.st.LastHeartbeats(ctx)
	if err != nil {
		return nil, err
	}
	now := c.now()
	var out []fleetBox
	for _, b := range boxes {
		if b.IsRevoked() {
			continue
		}
		f := fleetBox{BoxOverview: b}
		var lp *store.Heartbeat
		if l, ok := last[b.ID]; ok {
			var h Heartbeat
			if err := json.Unmarshal(l.Report, &h); err != nil {
				return nil, fmt.Errorf("console: heartbeat of %s: %w", b.ID, err)
			}
			lp, f.Beat, f.Seen = &l, &h, l.At
		}
		f.State, f.Reasons = judge(b.Box, lp, f.Beat, now)
		out = append(out, f)
	}
	rank := func(s string) int {
		return slices.IndexFunc(fleetStates, func(st struct{ State, Name, Class string }) bool { return st.State == s })
	}
	slices.SortStableFunc(out, func(a, b fleetBox) int {
		if d := rank(a.State) - rank(b.State); d != 0 {
			return d
		}
		return a.Seen.Compare(b.Seen)
	})
	return out, nil
}

// FleetCounts counts the boxes in use by state, for the service's metrics.
func (c *Console) FleetCounts(ctx context.Context) (map[string]int, error) {
	bs, err := c.fleet(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{StateLost: 0, StateAttention: 0, StateOK: 0}
	for _, b := range bs {
		out[b.State]++
	}
	return out, nil
}

type fleetData struct {
	Boxes                []fleetBox
	Lost, Attention, OK  int
	Msg                  string
	LostDays, MinDiskPct int
}

var fleetMessages = map[string]string{"replaced": "✅ 新盒子已经登记好了，旧盒子已经停用。"}

// trainerOrAdmin lets either role in.
func (c *Console) trainerOrAdmin(h userHandler) http.HandlerFunc {
	return c.user(func(w http.ResponseWriter, r *http.Request, u who) {
		if !u.user.Has(store.RoleTrainer) && !u.user.Has(store.RoleAdmin) {
			c.fail(w, r, http.StatusForbidden, "这一页只有培训师和管理员能看。")
			return
		}
		h(w, r, u)
	})
}

// fleetRoutes mounts the fleet page and re-keying a replacement box.
func (c *Console) fleetRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"fleet", c.trainerOrAdmin(c.fleetPage))
	mux.HandleFunc("GET "+Prefix+"fleet/{box}/replace", c.role(store.RoleTrainer, c.replaceForm))
	mux.HandleFunc("POST "+Prefix+"fleet/replace", c.role(store.RoleTrainer, c.replaceBox))
}

func (c *Console) fleetPage(w http.ResponseWriter, r *http.Request, u who) {
	bs, err := c.fleet(r.Context())
	if err != nil {
		c.internal(w, r, err)
		return
	}
	c.audit(r.Context(), u, r, "fleet.view", "", "")
	d := fleetData{Boxes: bs, Msg: fleetMessages[r.URL.Query().Get("msg")], LostDays: int(LostAfter / (24 * time.Hour)), MinDiskPct: MinDiskFreePct}
	for _, b := range bs {
		switch b.State {
		case StateLost:
			d.Lost++
		case StateAttention:
			d.Attention++
		default:
			d.OK++
		}
	}
	c.render(w, http.StatusOK, "fleet.html", page{Title: "盒子好不好", User: &u.user, CSRF: u.session.CSRF, Data: d})
}

type replaceData struct {
	Box   store.Box
	Key   string // what she typed, kept when refused
	Error string
}

func (c *Console) replaceForm(w http.ResponseWriter, r *http.Request, u who) {
	b, ok := c.namedBox(w, r, r.PathValue("box"))
	if !ok {
		return
	}
	c.render(w, http.StatusOK, "fleet_replace.html", page{Title: "换新盒子", User: &u.user, CSRF: u.session.CSRF, Data: replaceData{Box: b}})
}

func (c *Console) replaceBox(w http.ResponseWriter, r *http.Request, u who) {
	old, ok := c.namedBox(w, r, r.PostFormValue("box"))
	if !ok {
		return
	}
	key := r.PostFormValue("key")
	again := func(msg string) {
		c.render(w, http.StatusBadRequest, "fleet_replace.html", page{Title: "换新盒子", User: &u.user, CSRF: u.session.CSRF,
			Data: replaceData{Box: old, Key: key, Error: msg}})
	}
	if len(key) > 300 {
		again("新盒子的号码太长了。请扫新盒子手机页上的二维码，或者照着抄那 64 个字母和数字。")
		return
	}
	pub, err := bundle.ParseEnrolText(key)
	if err != nil {
		again("新盒子的号码不对。请扫新盒子手机页上的二维码，或者照着抄那 64 个字母和数字。")
		return
	}
	now := c.now()
	id := boxauth.BoxID(pub)
	e := store.AuditEntry{At: now, Actor: u.actor(), Action: "box.replace", Subject: id, Detail: joinDetail("old="+old.ID, "from="+from(r))}
	_, err = c.st.ReplaceBox(r.Context(), old.ID, store.Box{ID: id, PublicKey: pub, Added: now}, e)
	if errors.Is(err, store.ErrExists) {
		again("这个新盒子已经登记过了。如果要换，请选一个没登记过的盒子。")
		return
	}
	if err != nil {
		c.internal(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"fleet?msg=replaced", http.StatusSeeOther)
}
