package upload

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/internal/sharedtest"
	"github.com/tus/tusd/v2/pkg/filelocker"
	"github.com/tus/tusd/v2/pkg/filestore"
	tus "github.com/tus/tusd/v2/pkg/handler"
	expslog "golang.org/x/exp/slog"
)

// tusServer is a real tusd handler (file store) behind the review
// service's sign-in protocol, with hooks to break requests the way a
// mountain link or a failing service does.
type tusServer struct {
	t     *testing.T
	srv   *httptest.Server
	store filestore.FileStore
	pub   ed25519.PublicKey

	mu       sync.Mutex
	nonces   map[string]bool
	tokens   map[string]time.Time
	stored   map[string]string // kind/id → sha256 of what was stored
	bodies   map[string][]byte // kind/id → body
	log      []string          // "METHOD offset" per upload request
	signIns  int
	refused  int // upload requests answered 401
	tokenTTL time.Duration
	// fault, if set, may answer a request itself (return true).
	fault func(w http.ResponseWriter, r *http.Request) bool
}

func newTUSServer(t *testing.T, pub ed25519.PublicKey) *tusServer {
	t.Helper()
	s := &tusServer{t: t, pub: pub, nonces: map[string]bool{}, tokens: map[string]time.Time{},
		stored: map[string]string{}, bodies: map[string][]byte{}, tokenTTL: 15 * time.Minute}
	dir := t.TempDir()
	s.store = filestore.New(dir)
	composer := tus.NewStoreComposer()
	s.store.UseIn(composer)
	filelocker.New(dir).UseIn(composer)
	h, err := tus.NewHandler(tus.Config{
		StoreComposer: composer, BasePath: "/api/uploads/", DisableDownload: true,
		PreFinishResponseCallback: s.finish,
		Logger:                    expslog.New(expslog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/box/challenge", s.challenge)
	mux.HandleFunc("POST /api/box/token", s.token)
	mux.Handle("/api/uploads/", s.auth(http.StripPrefix("/api/uploads/", h)))
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *tusServer) challenge(w http.ResponseWriter, r *http.Request) {
	n := make([]byte, 32)
	rand.Read(n)
	nonce := base64.StdEncoding.EncodeToString(n)
	s.mu.Lock()
	s.nonces[nonce] = true
	s.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"nonce": nonce, "expires_at": time.Now().Add(time.Minute)})
}

func (s *tusServer) token(w http.ResponseWriter, r *http.Request) {
	var req struct {
		BoxID     string `json:"box_id"`
		Nonce     string `json:"nonce"`
		Signature string `json:"signature"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":"bad_request","message":"bad json"}`, http.StatusBadRequest)
		return
	}
	sig, _ := base64.StdEncoding.DecodeString(req.Signature)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.nonces[req.Nonce] || req.BoxID != BoxID(s.pub) || !ed25519.Verify(s.pub, []byte(TokenContext+req.Nonce), sig) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"bad_signature","message":"signature does not verify"}`)
		return
	}
	delete(s.nonces, req.Nonce)
	tok := hex.EncodeToString(sig[:16])
	exp := time.Now().Add(s.tokenTTL)
	s.tokens[tok] = exp
	s.signIns++
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_at": exp})
}

func (s *tusServer) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		exp, ok := s.tokens[tok]
		s.log = append(s.log, r.Method+" "+r.Header.Get("Upload-Offset"))
		fault := s.fault
		s.mu.Unlock()
		if !ok || time.Now().After(exp) {
			s.mu.Lock()
			s.refused++
			s.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"token_expired","message":"token expired; sign in again"}`)
			return
		}
		if fault != nil && fault(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// finish checks the whole body against its announced hash and keeps it,
// refusing the same id with another hash (409) as the service does.
func (s *tusServer) finish(ev tus.HookEvent) (tus.HTTPResponse, error) {
	up, err := s.store.GetUpload(ev.Context, ev.Upload.ID)
	if err != nil {
		return tus.HTTPResponse{}, err
	}
	r, err := up.GetReader(ev.Context)
	if err != nil {
		return tus.HTTPResponse{}, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return tus.HTTPResponse{}, err
	}
	m := ev.Upload.MetaData
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != m["sha256"] {
		return tus.HTTPResponse{}, tus.NewError("hash_mismatch", "body hash is not the announced one", 460)
	}
	key := m["kind"] + "/" + m["id"]
	s.mu.Lock()
	defer s.mu.Unlock()
	if have, ok := s.stored[key]; ok && have != m["sha256"] {
		return tus.HTTPResponse{}, tus.Error{ErrorCode: "conflict", Message: m["id"] + " was already uploaded with other content",
			HTTPResponse: tus.HTTPResponse{StatusCode: http.StatusConflict,
				Body: `{"error":"conflict","message":"` + m["id"] + ` was already uploaded with other content"}`}}
	}
	s.stored[key], s.bodies[key] = m["sha256"], data
	return tus.HTTPResponse{}, nil
}

func (s *tusServer) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

func (s *tusServer) body(kind, id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[kind+"/"+id]
}

func (s *tusServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// testLogger writes the uploader's log into the test's.
func testLogger(t *testing.T) *slog.Logger { return logTo(t, nil) }

// logTo also hands each log line to seen (when not nil).
func logTo(t *testing.T, seen func(line string)) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t, seen}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	t    *testing.T
	seen func(string)
}

func (w tWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	w.t.Log(line)
	if w.seen != nil {
		w.seen(line)
	}
	return len(p), nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// run starts u and returns a stop function that waits for it to end.
func run(t *testing.T, u *Uploader) (stop func()) {
	return sharedtest.Run(t, "Run", 10*time.Second, sharedtest.CanceledIsClean(u.Run)).Stop
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func writeFileForTest(dir, name, content string) error {
	return os.WriteFile(filepath.Join(dir, name), []byte(content), 0o640)
}
