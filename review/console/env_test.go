package console_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/accounts"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/consoletest"
	"github.com/cunbo/cunbo/review/pgtest"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wire"
	"github.com/cunbo/cunbo/review/wiretest"
)

// env is a running review service (the composed server: ingest and
// console) with boxes, users and uploaded segments.
type env struct {
	t     *testing.T
	srv   *server.Server
	base  string
	st    store.Store
	boxes map[string]enrolled // by name
	hash  string              // of password, made once: argon2 under -race takes 0.1 s
}

type enrolled struct {
	id   string
	priv ed25519.PrivateKey
}

const password = "sanjiang-2026-pw"

// pg is the package's PostgreSQL cluster, started by the first test that
// runs on it; each test gets a database of its own.
var pg pgtest.Shared

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

// forEachBackend runs f once per store backend, each as a subtest on a
// fresh service: the console's SQL is written twice (SQLite and
// PostgreSQL), and only a handler test tells whether both give her the
// same page.
func forEachBackend(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	for _, be := range []string{"sqlite", "postgres"} {
		t.Run(be, func(t *testing.T) { f(t, newEnvOn(t, be)) })
	}
}

// storeOn is a bare store on backend ("sqlite" or "postgres"), for the
// tests on the bench rig (consoletest's bulk-loaded data).
func storeOn(t *testing.T, backend string) consoletest.Backend {
	t.Helper()
	switch backend {
	case "sqlite":
		return consoletest.SQLite(t)
	case "postgres":
		return consoletest.Postgres(t, pg.Cluster(t))
	}
	t.Fatalf("no backend %q", backend)
	return consoletest.Backend{}
}

// newEnv is a service on SQLite, for the tests that run on one backend
// (most Chromium tests: the browser adds nothing the handler tests on
// both backends do not cover).
func newEnv(t *testing.T) *env { return newEnvOn(t, "sqlite") }

// newEnvOn is a service on backend ("sqlite" or "postgres").
func newEnvOn(t *testing.T, backend string) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cfg := server.Config{DataDir: t.TempDir(), Log: log}
	switch backend {
	case "sqlite":
	case "postgres":
		cfg.DB = pg.Cluster(t).NewURL(t)
	default:
		t.Fatalf("no backend %q", backend)
	}
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{t: t, srv: srv, base: hs.URL, st: srv.Store(), boxes: map[string]enrolled{}}
}

func (e *env) addUser(name string, roles ...string) {
	e.t.Helper()
	if e.hash == "" {
		h, err := accounts.Hash(password)
		if err != nil {
			e.t.Fatal(err)
		}
		e.hash = h
	}
	u := store.User{Name: name, Roles: roles, Hash: e.hash, Created: time.Now()}
	if err := e.st.AddUser(context.Background(), u, store.AuditEntry{At: time.Now(), Actor: "test", Action: "user.add", Subject: name}); err != nil {
		e.t.Fatal(err)
	}
}

// addBox enrols a box named name and assigns it to worker.
func (e *env) addBox(name, worker string) string {
	e.t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := boxauth.Enroll(context.Background(), e.st, pub, name, "test", time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.AssignBox(context.Background(), id, worker, store.AuditEntry{At: time.Now(), Actor: "test", Action: "box.assign", Subject: id}); err != nil {
		e.t.Fatal(err)
	}
	e.boxes[name] = enrolled{id: id, priv: priv}
	return id
}

// token signs box in as the box does.
func (e *env) token(box string) string {
	e.t.Helper()
	b := e.boxes[box]
	var ch struct{ Nonce string }
	resp, err := http.Post(e.base+"/api/box/challenge", "application/json", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&ch)
	resp.Body.Close()
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(b.priv, []byte(boxauth.TokenContext+ch.Nonce)))
	body, _ := json.Marshal(map[string]string{"box_id": b.id, "nonce": ch.Nonce, "signature": sig})
	resp, err = http.Post(e.base+"/api/box/token", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&tok)
	if resp.StatusCode != 200 || tok.Token == "" {
		e.t.Fatalf("sign in %s: %d", box, resp.StatusCode)
	}
	return tok.Token
}

// upload sends a segment tar over tus (creation, then one PATCH), as a box
// does.
func (e *env) upload(box, id string, body []byte) {
	e.t.Helper()
	token := e.token(box)
	sum := sha256.Sum256(body)
	b64 := base64.StdEncoding.EncodeToString
	md := "kind " + b64([]byte("segment")) + ",id " + b64([]byte(id)) + ",sha256 " + b64([]byte(hex.EncodeToString(sum[:])))
	req, _ := http.NewRequest("POST", e.base+"/api/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Upload-Length", strconv.Itoa(len(body)))
	req.Header.Set("Upload-Metadata", md)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("tus create: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("PATCH", resp.Header.Get("Location"), bytes.NewReader(body))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Cunbo-Stored") != "created" {
		e.t.Fatalf("tus patch: %d %q", resp.StatusCode, resp.Header.Get("Cunbo-Stored"))
	}
}

// clip makes a real MP4 of secs seconds (moving test pattern, a tone).
func clip(t *testing.T, secs int) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
		"-f", "lavfi", "-i", "sine=frequency=440", "-t", strconv.Itoa(secs), "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", "-y", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Captions of the test segment: the finding is in the second, 1 s before
// the moment; the clip runs from 5 s before the moment.
var lines = []string{"大家好，欢迎来到直播间", "今天的辣椒酱全网最低价", "喜欢的朋友点个关注"}

// segmentTar is a version 2 segment with three captions and a clip of
// 8 s starting 5 s before the moment at, its id n.
func segmentTar(t *testing.T, n int, at time.Time, mp4 []byte) (string, []byte) {
	t.Helper()
	id := at.UTC().Format("20060102T150405000Z") + "-" + string("0123456789abcdef"[n%16]) + "a1b2c3d"
	s := wiretest.Segment(id, len(mp4))
	s.At, s.Created, s.StatusAt = at, at.Add(12*time.Second), at.Add(12*time.Second)
	starts := []float64{-4, -1, 2}
	off := 0
	s.Transcript.Captions = nil
	for i, l := range lines {
		s.Transcript.Captions = append(s.Transcript.Captions, wire.Caption{At: at.Add(time.Duration(starts[i] * float64(time.Second))),
			Start: starts[i], End: starts[i] + 1.5, Offset: off, Text: l})
		off += len([]rune(l)) + 1
	}
	s.Transcript.Text = strings.Join(lines, wire.CaptionSep)
	f := &s.Findings[0]
	f.Caption, f.Start, f.End, f.At = 1, len([]rune(lines[0]))+1+6, len([]rune(lines[0]))+1+11, at
	f.Explain, f.Suggest = "说“全网最低”，没法证明，广告法不许这样说。", "“我们家的价格很实在”"
	s.Clip.Start, s.Clip.End = at.Add(-5*time.Second), at.Add(3*time.Second)
	return id, wiretest.Tar(t, wiretest.Entry{Name: wire.JSONFile, Body: wiretest.JSON(t, s)}, wiretest.Entry{Name: wire.ClipFile, Body: mp4})
}

// client is a cookie-keeping HTTP client that does not follow redirects.
func client(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login signs name in with c and returns the CSRF token of its session.
func (e *env) login(c *http.Client, name string) string {
	e.t.Helper()
	resp, err := c.PostForm(e.base+"/console/login", url.Values{"name": {name}, "password": {password}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d", name, resp.StatusCode)
	}
	resp, err = c.Get(e.base + "/console/")
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, rest, ok := strings.Cut(string(b), `name="csrf" value="`)
	if !ok {
		e.t.Fatalf("no csrf token on the queue page of %s:\n%s", name, b)
	}
	tok, _, _ := strings.Cut(rest, `"`)
	return tok
}
