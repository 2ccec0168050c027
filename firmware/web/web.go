// Package web is the box's local web server: the streamer's phone page
// (embedded, works offline), the JSON API the page and the simulator use,
// a Server-Sent Events stream of status changes and compliance warnings,
// and the mount point of the WebRTC preview. Everything but the page and
// the login sits behind a PIN-issued session cookie.
package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/secret"
)

//go:embed static
var staticFS embed.FS

// Box is what the server needs from firmware.Box.
type Box interface {
	Status() firmware.Status
	Subscribe() (<-chan firmware.Status, func())
	// Post reports an error when the event was dropped (the box is busy).
	Post(ev state.Event, detail string) error
}

// Card is the product card on screen.
type Card struct {
	Index   int    `json:"index"`
	Name    string `json:"name"`
	Visible bool   `json:"visible"`
	Count   int    `json:"count,omitempty"`
}

// Captions says whether the caption checker runs, and if not, why (in
// Chinese, for her).
type Captions struct {
	On     bool   `json:"on"`
	Reason string `json:"reason,omitempty"`
}

// Details are the pipeline's and the speech loop's part of the status.
type Details struct {
	// Destination is where the stream goes, with the key already masked
	// (secret.URL, secret.Key).
	Destination string
	BitrateKbps int
	Card        *Card
	Captions    Captions
	// Video is the broadcast picture now; nil when unknown.
	Video *Video
	// Destinations is each publisher's state while live.
	Destinations []Destination
	// Problems are what was set up wrong and what the box did about it
	// (config keys, catalogue rows, cards whose words break a rule).
	Problems []SetupProblem
	// StorageNote is a plain sentence about the SD card when it is full
	// or failing ("" when all is well).
	StorageNote string
	// UploadNote says what waits to go to the review service and why
	// (e.g. 有 3 段等上传（网络不通）); "" when nothing waits.
	UploadNote string
	// Setup is the box's key and its last setup bundle; nil for none.
	Setup *Setup
}

// SetupProblem is one thing a trainer set up wrong that the box works
// around: a configuration key, a catalogue row, a product card whose
// words break an advertising rule. The phone page lists them so nobody
// has to read the journal. Message and Hint are plain Chinese.
type SetupProblem struct {
	// Source is what the problem is in: "config", "catalog" or "card".
	Source string `json:"source"`
	// Where points at it the way the trainer finds it: "cunbo.toml 第12行
	// (pin)", "商品.xlsx 第3行", "卡片 2「全网最好的野生蜂蜜」".
	Where string `json:"where"`
	// Message says what is wrong and what the box did (e.g. the card is
	// not shown).
	Message string `json:"message"`
	// Hint is an example or what to write instead; "" when none.
	Hint string `json:"hint,omitempty"`
}

// Video is what the encoder sends now. The trainer reads the numbers; the
// streamer only sees NetworkNote when the picture is reduced.
type Video struct {
	Kbps   int `json:"kbps"`
	Width  int `json:"width"`
	Height int `json:"height"`
	FPS    int `json:"fps"`
	// Reduced: a weak link made the box send a smaller picture than
	// configured.
	Reduced bool `json:"reduced"`
	// Limiter is the destination whose link set the latest change.
	Limiter string `json:"limiter,omitempty"`
}

// Destination is one ingest the box publishes to while live.
type Destination struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"` // "rtmp" or "whip"
	Connected bool   `json:"connected"`
	SentKbps  int    `json:"sent_kbps"`
	// LastError is the latest failure, secrets removed; "" when none.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// WeakNetworkNote is what the page says while live with a reduced
// picture: what happened and that the box handled it, no jargon.
const WeakNetworkNote = "网络差，画面已自动降低清晰度"

// WarningCard is one compliance warning for the streamer: what to say
// instead, what she said and why it is a problem. Viewers never see it.
// The page shows one card per problem: a repeat within the server's
// WarningRepeat updates the card (Count, Said, At) under the same ID.
type WarningCard struct {
	// ID names the card; the page never shows one ID twice. Given by the
	// publisher or made up by the server.
	ID string `json:"id"`
	// Said is the caption text around the problem; Match the words in it.
	Said     string `json:"said"`
	Match    string `json:"match,omitempty"`
	Category string `json:"category"`
	// Rule is the rule's id: the same rule is the same problem.
	Rule         string `json:"rule,omitempty"`
	CategoryName string `json:"category_name"`
	Explain      string `json:"explain"`
	// Why is the reason in everyday words, without legal terms (Explain
	// when empty).
	Why     string `json:"why,omitempty"`
	Suggest string `json:"suggest,omitempty"`
	// Instead is Suggest as the card's first line, set by the server.
	Instead string    `json:"instead,omitempty"`
	Law     string    `json:"law,omitempty"`
	At      time.Time `json:"at"`
	// First is when this problem was first heard; Count how many times
	// since (both set by the server).
	First time.Time `json:"first"`
	Count int       `json:"count"`
}

// WarningSink is what the compliance loop publishes into.
type WarningSink interface {
	PublishWarning(WarningCard)
}

// Status is the JSON of GET /api/status.
type Status struct {
	State state.State `json:"state"`
	// Label and Icon are the state in her words: "直播中" and "🔴".
	Label       string    `json:"label"`
	Icon        string    `json:"icon"`
	Since       time.Time `json:"since"`
	Ring        string    `json:"ring"`
	Destination string    `json:"destination"`
	BitrateKbps int       `json:"bitrate_kbps"`
	Card        *Card     `json:"card"`
	Captions    Captions  `json:"captions"`
	// Video is the broadcast picture now (omitted when unknown).
	Video *Video `json:"video,omitempty"`
	// Destinations is each ingest's state while live (empty off air).
	Destinations []Destination `json:"destinations"`
	// NetworkNote is a plain sentence for the streamer about her
	// network while live ("" when all is well).
	NetworkNote string `json:"network_note,omitempty"`
	// StorageNote is a plain sentence about the SD card (full, old
	// recordings being deleted; failing) or "" when all is well.
	StorageNote string `json:"storage_note,omitempty"`
	// UploadNote is what waits for the review service, in plain words
	// ("" when nothing waits).
	UploadNote string `json:"upload_note,omitempty"`
	// Warnings are the recent compliance warnings, newest last.
	Warnings []WarningCard `json:"warnings"`
	// Notices are the box's own messages (network trouble, failed start).
	Notices []firmware.Notice `json:"notices"`
	// Problems are setup mistakes the box worked around (empty when none).
	Problems []SetupProblem `json:"problems"`
	// Notes are her social worker's unread notes, oldest first (at most a
	// few; none while on air); NotesUnread counts them all.
	Notes       []NoteCard `json:"notes"`
	NotesUnread int        `json:"notes_unread"`
	// Setup is the box's key and its last setup bundle (omitted: none).
	Setup *Setup `json:"setup,omitempty"`
}

// Labels gives each state its icon and words.
func Labels(s state.State) (icon, label string) {
	switch s {
	case state.Idle:
		return "⚪", "未开播"
	case state.Starting:
		return "🟢", "正在开播…"
	case state.Live:
		return "🔴", "直播中"
	case state.Degraded:
		return "🟡", "网络不好"
	case state.Reconnecting:
		return "🟠", "网络断了，正在重连"
	case state.Ending:
		return "⚪", "正在下播…"
	case state.Setup:
		return "🔵", "设置中"
	case state.Practice:
		// Short: the practice banner above says 观众看不到 in full, and
		// the long phrase broke mid-word in the narrow state box.
		return "🟩", "练习中"
	}
	return "❗", "设备故障"
}

// onAir reports whether the stream is (meant to be) going out.
func onAir(s state.State) bool {
	switch s {
	case state.Live, state.Degraded, state.Reconnecting:
		return true
	}
	return false
}

// MaskKey is how a stream key or token is shown: not at all (secret.Key).
//
// Deprecated: use secret.Key; kept for callers being moved over.
func MaskKey(key string) string { return secret.Key(key) }

// Options configure a Server.
type Options struct {
	Box Box
	// PIN is the box's PIN (config pin); required.
	PIN string
	// Details adds the pipeline's part of the status; nil for none.
	Details func() Details
	// Hostnames are extra names the page may be opened by, besides
	// localhost, the machine's hostname, hostname.local and its
	// addresses; a request naming any other Host is refused.
	Hostnames []string
	// Preview is the WHEP handler (whep.Server) mounted at /api/whep;
	// nil answers 503.
	Preview http.Handler
	// ButtonMap defaults to firmware.PhoneButtonMap.
	ButtonMap map[firmware.ButtonPress]state.Event
	// SessionTTL defaults to 12 h (a long market day); Lockout, the first
	// wait after five wrong PINs, to 30 s (doubling each time).
	SessionTTL time.Duration
	Lockout    time.Duration
	// StatusInterval is how often an events stream checks the pipeline
	// details for changes (bitrate, card). Default 1 s.
	StatusInterval time.Duration
	// WarningRepeat: the same problem again within this long of its last
	// time counts up its card instead of adding one. Default
	// DefaultWarningRepeat.
	WarningRepeat time.Duration
	// Notes are the coaching notes shown while idle; nil for none.
	Notes Notes
	// WiFi is the setup hotspot's Wi-Fi page; nil for none (wifi.go).
	WiFi WiFiSetup
	// Practice is the practice lab (customers, report); nil for none.
	Practice PracticeSource
	Now      func() time.Time
	Logger   *slog.Logger
}

// Server serves the page and API. It is an http.Handler.
type Server struct {
	opts  Options
	log   *slog.Logger
	auth  *sessions
	mux   *http.ServeMux
	hub   hub
	files fs.FS
	guard *guard

	warnings warningBook
}

// New checks opts and builds the server.
func New(opts Options) (*Server, error) {
	if opts.Box == nil {
		return nil, errors.New("web: no box")
	}
	if err := checkPIN(opts.PIN); err != nil {
		return nil, err
	}
	if opts.ButtonMap == nil {
		opts.ButtonMap = firmware.PhoneButtonMap()
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.Lockout <= 0 {
		opts.Lockout = 30 * time.Second
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WarningRepeat <= 0 {
		opts.WarningRepeat = DefaultWarningRepeat
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	files, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("web: embedded files: %w", err)
	}
	s := &Server{opts: opts, log: log, files: files,
		auth:  newSessions(opts.PIN, opts.SessionTTL, opts.Lockout, opts.Now),
		guard: newGuard(opts.Hostnames, opts.Now, log)}
	s.hub.subs = map[*subscriber]struct{}{}
	s.warnings.repeat = opts.WarningRepeat
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(files))
	mux.HandleFunc("POST /api/login", s.login)
	mux.HandleFunc("POST /api/logout", s.logout)
	mux.Handle("GET /api/status", s.private(s.status))
	mux.Handle("POST /api/button/{name}", s.private(s.button))
	mux.Handle("GET /api/events", s.private(s.events))
	mux.Handle("GET /api/practice", s.private(s.practice))
	mux.Handle("POST /api/practice/start", s.private(s.practiceStart))
	mux.Handle("POST /api/notes/{seq}/read", s.private(s.noteRead))
	s.wifiRoutes(mux)
	for _, m := range []string{"POST", "DELETE", "OPTIONS", "PATCH"} {
		mux.Handle(m+" /api/whep", s.private(s.preview))
		mux.Handle(m+" /api/whep/{id}", s.private(s.preview))
	}
	s.mux = mux
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The page is for the box's own LAN and must never be framed or
	// cached by a shared proxy.
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Everything the page needs comes from the box itself (it is offline).
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self'; "+
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		h.Set("Cache-Control", "no-store")
	}
	if !s.guard.check(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// PublishWarning records a compliance warning and sends its card (new, or
// an earlier one counted up) to every open events stream. It never
// blocks: a slow phone misses the event rather than hold up the caller,
// and gets the card with the next status.
func (s *Server) PublishWarning(w WarningCard) {
	if w.At.IsZero() {
		w.At = s.opts.Now()
	}
	card := s.warnings.add(w)
	s.hub.broadcast(event{warning: &card})
}

// Status assembles the current status.
func (s *Server) Status() Status {
	bs := s.opts.Box.Status()
	icon, label := Labels(bs.State)
	st := Status{State: bs.State, Label: label, Icon: icon, Since: bs.Since, Ring: bs.Ring,
		Notices: boxNotices(bs.Warnings)}
	if s.opts.Details != nil {
		d := s.opts.Details()
		st.Destination, st.BitrateKbps, st.Card, st.Captions = d.Destination, d.BitrateKbps, d.Card, d.Captions
		st.Video, st.Destinations, st.Problems = d.Video, d.Destinations, d.Problems
		st.StorageNote, st.UploadNote, st.Setup = d.StorageNote, d.UploadNote, d.Setup
	}
	if st.Problems == nil {
		st.Problems = []SetupProblem{}
	}
	if st.Destinations == nil {
		st.Destinations = []Destination{}
	}
	if onAir(st.State) && st.Video != nil && st.Video.Reduced {
		st.NetworkNote = WeakNetworkNote
	}
	st.Warnings = s.warnings.list()
	st.Notes, st.NotesUnread = s.unreadNotes(onAir(st.State) || st.State == state.Starting)
	return st
}

func (s *Server) private(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.auth.valid(r) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "请输入盒子上的密码 (PIN required)"})
			return
		}
		h(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	pin := ""
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body struct {
			PIN string `json:"pin"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			badBody(w, err)
			return
		}
		pin = body.PIN
	} else {
		if err := r.ParseForm(); err != nil {
			badBody(w, err)
			return
		}
		pin = r.PostForm.Get("pin")
	}
	token, wait, err := s.auth.login(clientKey(r), strings.TrimSpace(pin))
	switch {
	case err != nil:
		s.log.Error("login", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "内部错误"})
	case wait > 0:
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.log.Warn("phone page: too many wrong PINs", "client", clientKey(r), "locked_for", wait)
		writeJSON(w, http.StatusTooManyRequests,
			map[string]any{"error": fmt.Sprintf("密码错太多次，请 %d 秒后再试", secs), "retry_after": secs})
	case token == "":
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "密码不对，请再试一次"})
	default:
		http.SetCookie(w, s.auth.cookie(token))
		w.WriteHeader(http.StatusNoContent)
	}
}

// badBody answers a request body that could not be read: 413 when it
// was too large, 400 otherwise.
func badBody(w http.ResponseWriter, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "请求太大 (request too large)"})
		return
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": "请求内容不对 (bad request): " + err.Error()})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.auth.logout(r)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Status())
}

func (s *Server) button(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	// Whatever the body is, a press must not happen unless all of it was
	// read and understood.
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		badBody(w, err)
		return
	}
	if n, err := io.Copy(io.Discard, r.Body); err != nil {
		badBody(w, err)
		return
	} else if n > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "请求内容不对 (unexpected request body)"})
		return
	}
	pressName := r.Form.Get("press")
	var press hw.Press
	switch pressName {
	case "", "short":
		press = hw.ShortPress
	case "long":
		press = hw.LongPress
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "press must be short or long"})
		return
	}
	ev, ok := s.opts.ButtonMap[firmware.ButtonPress{Button: name, Press: press}]
	if !ok {
		known := false
		for bp := range s.opts.ButtonMap {
			known = known || bp.Button == name
		}
		if !known {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such button: " + name})
			return
		}
		// A known button with no meaning for this press: like the
		// physical box, nothing happens.
		writeJSON(w, http.StatusOK, map[string]string{"event": ""})
		return
	}
	s.log.Info("phone page button", "button", name, "press", pressName, "event", ev)
	if err := s.opts.Box.Post(ev, ""); err != nil {
		s.log.Warn("phone page button dropped: the box is busy", "button", name, "err", err)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "盒子正忙，请再按一次 (box busy, press again)"})
		return
	}
	// Card changes reach the pipeline a moment after the event; nudge
	// the events streams to look again.
	time.AfterFunc(150*time.Millisecond, func() { s.hub.broadcast(event{}) })
	writeJSON(w, http.StatusOK, map[string]string{"event": string(ev)})
}

func (s *Server) preview(w http.ResponseWriter, r *http.Request) {
	if s.opts.Preview == nil {
		http.Error(w, "预览还没准备好 (preview not available)", http.StatusServiceUnavailable)
		return
	}
	s.opts.Preview.ServeHTTP(w, r)
}

// event is one thing for the events streams: a warning, or (zero) a
// prompt to re-check the status.
type event struct {
	warning *WarningCard
}

type subscriber struct {
	ch chan event
}

// hub fans events out to the open streams without blocking the sender.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

func (h *hub) add() *subscriber {
	sub := &subscriber{ch: make(chan event, 16)}
	h.mu.Lock()
	h.subs[sub] = struct{}{}
	h.mu.Unlock()
	return sub
}

func (h *hub) remove(sub *subscriber) {
	h.mu.Lock()
	delete(h.subs, sub)
	h.mu.Unlock()
}

func (h *hub) broadcast(e event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		select {
		case sub.ch <- e:
		default:
		}
	}
}

// events streams "status" events (the whole status JSON, when it
// changed) and "warning" events (one card each: a new one, or an earlier
// one counted up under its ID).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	sub := s.hub.add()
	defer s.hub.remove(sub)
	boxCh, unsubscribe := s.opts.Box.Subscribe()
	defer unsubscribe()
	tick := time.NewTicker(s.opts.StatusInterval)
	defer tick.Stop()
	ctx := r.Context()

	var last []byte
	sendStatus := func() error {
		b, err := json.Marshal(s.Status())
		if err != nil {
			return err
		}
		if bytes.Equal(b, last) {
			return nil
		}
		last = b
		return writeEvent(w, rc, "status", b)
	}
	if err := sendStatus(); err != nil {
		return
	}
	keepalive := 0
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case _, ok := <-boxCh:
			if !ok {
				return
			}
			err = sendStatus()
		case e := <-sub.ch:
			if e.warning != nil {
				b, merr := json.Marshal(e.warning)
				if merr != nil {
					continue
				}
				if err = writeEvent(w, rc, "warning", b); err == nil {
					err = sendStatus()
				}
			} else {
				err = sendStatus()
			}
		case <-tick.C:
			err = sendStatus()
			if keepalive++; err == nil && keepalive%15 == 0 {
				// Comment lines keep NAT and phone radios from
				// dropping a quiet stream. Each write gets its own
				// deadline: the last event's has long passed on a quiet box.
				_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if _, err = fmt.Fprint(w, ": ping\n\n"); err == nil {
					err = rc.Flush()
				}
			}
		}
		if err != nil {
			s.log.Debug("events stream closed", "err", err)
			return
		}
	}
}

func writeEvent(w http.ResponseWriter, rc *http.ResponseController, name string, data []byte) error {
	_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data); err != nil {
		return err
	}
	return rc.Flush()
}
