// Package console serves the social workers' console: sign-in, the queue
// of flagged moments of her caseload, one moment on one screen (clip,
// transcript, the rule in everyday words), decisions with undo, and the
// audit of every view and decision.
//
// Pages are rendered on the server in Simplified Chinese with a little
// JavaScript (keyboard shortcuts, the transcript following the clip); they
// work without it. Nothing is loaded from elsewhere: a county LAN may have
// no Internet.
//
// Security: a session is an HttpOnly, SameSite=Strict cookie (Secure under
// TLS) whose SHA-256 the store keeps; every state change needs the
// session's CSRF token in its form and passes Go's CrossOriginProtection;
// every page has a strict Content-Security-Policy with a per-response
// nonce. A box's bearer token opens nothing here.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cunbo/cunbo/review/accounts"
	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/store"
)

// Prefix is where the console is mounted.
const Prefix = "/console/"

// CookieName is the session cookie's name.
const CookieName = "cunbo_console"

// SessionTTL is how long a sign-in lasts: a working day.
const SessionTTL = 12 * time.Hour

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the console needs.
type Config struct {
	Store store.Store
	Blobs blob.Store
	Log   *slog.Logger
	Now   func() time.Time // nil: time.Now
	// Auth checks boxes' tokens for NotesPath; nil: no notes endpoint.
	Auth BoxAuth
	// Signing signs the trainer's setup bundles (provision.go); nil: the
	// page says signing is not set up. FontPath is the cards' font
	// (overlay.DefaultFontPath when empty).
	Signing  *Signing
	FontPath string
}

// Console is the console's http.Handler.
type Console struct {
	st       store.Store
	blobs    blob.Store
	auth     BoxAuth
	log      *slog.Logger
	now      func() time.Time
	pages    *template.Template
	mux      *http.ServeMux
	handler  http.Handler
	byName   *accounts.Throttle
	byAddr   *accounts.Throttle
	fakeHash string // checked against when the name is unknown, so timing does not tell names apart
	signing  *Signing
	font     string
	cards    cardCache
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.Store == nil || cfg.Blobs == nil {
		return nil, errors.New("console: a store and a blob store are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := template.New("").Funcs(funcMap()).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	fake, err := accounts.Hash("no such user")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c := &Console{st: cfg.Store, blobs: cfg.Blobs, auth: cfg.Auth, log: cfg.Log, now: cfg.Now, pages: pages,
		byName: accounts.NewThrottle(5, 15*time.Minute), byAddr: accounts.NewThrottle(30, 15*time.Minute), fakeHash: fake,
		signing: cfg.Signing, font: cfg.FontPath}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", cacheFor(time.Hour, http.FileServerFS(static))))
	mux.HandleFunc("GET "+Prefix+"login", c.loginPage)
	mux.HandleFunc("POST "+Prefix+"login", c.login)
	mux.HandleFunc("POST "+Prefix+"logout", c.user(c.logout))
	mux.HandleFunc("GET "+Prefix+"{$}", c.user(c.queue))
	mux.HandleFunc("GET "+Prefix+"m/{box}/{id}", c.social(c.moment))
	mux.HandleFunc("GET "+Prefix+"clip/{box}/{id}", c.social(c.clip))
	mux.HandleFunc("GET "+Prefix+"poster/{box}/{id}", c.social(c.poster))
	mux.HandleFunc("POST "+Prefix+"decide", c.social(c.decide))
	mux.HandleFunc("POST "+Prefix+"undo", c.social(c.undo))
	mux.HandleFunc("POST "+Prefix+"note", c.social(c.note))
	mux.HandleFunc("GET "+Prefix+"w/{box}", c.social(c.woman))
	mux.HandleFunc("GET "+Prefix+"rules", c.user(c.rules))
	mux.HandleFunc("GET "+Prefix+"export.tsv", c.user(c.export))
	c.routes(mux) // admin.go: escalation, the admin's and the trainer's pages
	c.fleetRoutes(mux)
	c.provisionRoutes(mux)
	c.enrolRoutes(mux)    // enrol.go: adding a new box by its QR
	c.practiceRoutes(mux) // practice.go: practices, assessment, the ready mark
	c.mux = mux
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusForbidden, "这个操作来自别的网站，已经拦下。请在本页面上重新操作。")
	}))
	c.handler = cop.Handler(mux)
	return c, nil
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("private, max-age=%d", int(d.Seconds())))
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP serves the console's paths (under Prefix).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// Pages replace this with their own, which allows their nonce.
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	c.handler.ServeHTTP(w, r)
}

// Register mounts the console on mux, and the boxes' notes endpoint when
// the console has an Auth.
func (c *Console) Register(mux *http.ServeMux) {
	mux.Handle(Prefix, c)
	if c.auth != nil {
		mux.HandleFunc("GET "+NotesPath, c.boxNotes)
		mux.HandleFunc("POST "+NoteReadPath, c.boxNoteRead)
		mux.HandleFunc("POST "+HeartbeatPath, c.boxHeartbeat)
		mux.HandleFunc("GET "+BundlePath, c.boxBundle)
	}
}

// who is the signed-in user of a request.
type who struct {
	user    store.User
	session store.WebSession
}

func (u who) actor() string { return "user:" + u.user.Name }

type userHandler func(w http.ResponseWriter, r *http.Request, u who)

func hashCookie(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// session finds the request's signed-in user from its cookie only: an
// Authorization header (a box's token) counts for nothing here.
func (c *Console) session(r *http.Request) (who, bool) {
	ck, err := r.Cookie(CookieName)
	if err != nil || len(ck.Value) < 40 || len(ck.Value) > 64 {
		return who{}, false
	}
	s, u, err := c.st.WebSession(r.Context(), hashCookie(ck.Value), c.now())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExpired) {
			c.log.Error("console: session", "err", err)
		}
		return who{}, false
	}
	return who{user: u, session: s}, true
}

// user requires a signed-in user; and for POST, the session's CSRF token.
func (c *Console) user(h userHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := c.session(r)
		if !ok {
			if r.Method == http.MethodGet && !isClip(r) {
				http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
				return
			}
			c.fail(w, r, http.StatusUnauthorized, "请先登录。")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := r.PostFormValue("csrf")
			if subtle.ConstantTimeCompare([]byte(got), []byte(u.session.CSRF)) != 1 || got == "" {
				c.fail(w, r, http.StatusForbidden, "页面过期了。请回到上一页，刷新后再试。")
				return
			}
		}
		h(w, r, u)
	}
}

// isClip: a video element (or its poster) cannot follow a redirect to a
// sign-in page.
func isClip(r *http.Request) bool {
	return r.Pattern == "GET "+Prefix+"clip/{box}/{id}" || r.Pattern == "GET "+Prefix+"poster/{box}/{id}"
}

// social requires a signed-in social worker.
func (c *Console) social(h userHandler) http.HandlerFunc {
	return c.user(func(w http.ResponseWriter, r *http.Request, u who) {
		if !u.user.Has(store.RoleSocial) {
			c.fail(w, r, http.StatusForbidden, "您的账号不能看直播片段。只有社工账号能看。")
			return
		}
		h(w, r, u)
	})
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// from is where a request came from, for the audit log.
func from(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (c *Console) audit(ctx context.Context, u who, r *http.Request, action, subject, detail string) {
	e := store.AuditEntry{At: c.now(), Actor: u.actor(), Action: action, Subject: subject, Detail: joinDetail(detail, "from="+from(r))}
	if err := c.st.AppendAudit(ctx, e); err != nil {
		c.log.Error("console: audit", "action", action, "err", err)
	}
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

// page is what every template gets.
type page struct {
	Title string
	Nonce string
	User  *store.User
	CSRF  string
	Data  any
}

// render writes a page with a fresh CSP nonce.
func (c *Console) render(w http.ResponseWriter, code int, name string, p page) {
	p.Nonce = randomToken()
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+p.Nonce+"'; style-src 'self'; img-src 'self' data:; "+
		"media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := c.pages.ExecuteTemplate(w, name, p); err != nil {
		c.log.Error("console: render", "page", name, "err", err)
	}
}

// fail shows a plain error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	c.render(w, code, "error.html", page{Title: "出错了", Data: msg})
}

func (c *Console) internal(w http.ResponseWriter, r *http.Request, err error) {
	c.log.Error("console", "path", r.URL.Path, "err", err)
	c.fail(w, r, http.StatusServiceUnavailable, "系统暂时出了问题，什么也没丢。请过一会儿再试。")
}
