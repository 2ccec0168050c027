package boxauth_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/store"
)

type env struct {
	st    store.Store
	clock *clockwork.FakeClock
	srv   *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	svc := boxauth.New(st, clock, nil)
	mux := http.NewServeMux()
	svc.Register(mux)
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		b, e := svc.Authenticate(r)
		if e != nil {
			boxauth.WriteError(w, e)
			return
		}
		io.WriteString(w, b.ID)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{st: st, clock: clock, srv: srv}
}

func (e *env) enrol(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := boxauth.Enroll(context.Background(), e.st, pub, "test", "test", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return id, priv
}

func (e *env) post(t *testing.T, path string, body any) (int, map[string]string) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if s, ok := body.(string); ok {
		rd = bytes.NewBufferString(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	resp, err := http.Post(e.srv.URL+path, "application/json", rd)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	raw, _ := io.ReadAll(resp.Body)
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatalf("%s: %d, body %q is not JSON", path, resp.StatusCode, raw)
	}
	out = map[string]string{}
	for k, v := range generic {
		out[k], _ = v.(string)
	}
	return resp.StatusCode, out
}

func (e *env) nonce(t *testing.T) string {
	t.Helper()
	code, r := e.post(t, "/api/box/challenge", nil)
	raw, err := base64.StdEncoding.DecodeString(r["nonce"])
	if code != 200 || err != nil || len(raw) != 32 || r["expires_at"] == "" {
		t.Fatalf("challenge: %d %v", code, r)
	}
	return r["nonce"]
}

func sign(priv ed25519.PrivateKey, nonce string) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(boxauth.TokenContext+nonce)))
}

func (e *env) whoami(t *testing.T, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/whoami", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBoxID(t *testing.T) {
	pub := make(ed25519.PublicKey, 32) // all zero: sha256 is 66687aad...
	if got, want := boxauth.BoxID(pub), "66687aadf862bd776c8fc18b8e9f8e20"; got != want {
		t.Fatalf("BoxID = %s, want %s", got, want)
	}
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	id, priv := e.enrol(t)
	_, otherPriv := e.enrol(t)
	_, strangerPriv, _ := ed25519.GenerateKey(rand.Reader)
	revoked, revokedPriv := e.enrol(t)
	if err := boxauth.Revoke(context.Background(), e.st, revoked, "test", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	used := e.nonce(t)
	if code, r := e.post(t, "/api/box/token", map[string]string{"box_id": id, "nonce": used, "signature": sign(priv, used)}); code != 200 {
		t.Fatalf("sign in: %d %v", code, r)
	}
	tests := []struct {
		name     string
		body     func(n string) any
		advance  time.Duration
		wantCode int
		wantErr  string
	}{
		{"good", func(n string) any { return map[string]string{"box_id": id, "nonce": n, "signature": sign(priv, n)} }, 0, 200, ""},
		{"good just before expiry", func(n string) any { return map[string]string{"box_id": id, "nonce": n, "signature": sign(priv, n)} }, 59 * time.Second, 200, ""},
		{"wrong key", func(n string) any {
			return map[string]string{"box_id": id, "nonce": n, "signature": sign(strangerPriv, n)}
		}, 0, 401, "bad_signature"},
		{"another box's key", func(n string) any {
			return map[string]string{"box_id": id, "nonce": n, "signature": sign(otherPriv, n)}
		}, 0, 401, "bad_signature"},
		{"signature without context", func(n string) any {
			return map[string]string{"box_id": id, "nonce": n, "signature": base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(n)))}
		}, 0, 401, "bad_signature"},
		{"unknown box", func(n string) any {
			return map[string]string{"box_id": "00000000000000000000000000000000", "nonce": n, "signature": sign(priv, n)}
		}, 0, 401, "unknown_box"},
		{"revoked box", func(n string) any {
			return map[string]string{"box_id": revoked, "nonce": n, "signature": sign(revokedPriv, n)}
		}, 0, 403, "box_revoked"},
		{"replayed nonce", func(string) any { return map[string]string{"box_id": id, "nonce": used, "signature": sign(priv, used)} }, 0, 401, "nonce_used"},
		{"expired nonce", func(n string) any { return map[string]string{"box_id": id, "nonce": n, "signature": sign(priv, n)} }, 61 * time.Second, 401, "nonce_expired"},
		{"invented nonce", func(string) any {
			n := base64.StdEncoding.EncodeToString(make([]byte, 32))
			return map[string]string{"box_id": id, "nonce": n, "signature": sign(priv, n)}
		}, 0, 401, "unknown_nonce"},
		{"not JSON", func(string) any { return "box_id=x" }, 0, 400, "bad_request"},
		{"missing field", func(n string) any { return map[string]string{"box_id": id, "nonce": n} }, 0, 400, "bad_request"},
		{"signature not base64", func(n string) any { return map[string]string{"box_id": id, "nonce": n, "signature": "%%%"} }, 0, 401, "bad_signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := e.nonce(t)
			e.clock.Advance(tc.advance)
			code, r := e.post(t, "/api/box/token", tc.body(n))
			if code != tc.wantCode || r["error"] != tc.wantErr {
				t.Fatalf("got %d %v, want %d %q", code, r, tc.wantCode, tc.wantErr)
			}
			if tc.wantErr == "" {
				if len(r["token"]) < 40 || r["expires_at"] == "" {
					t.Fatalf("token response %v", r)
				}
				if c, who := e.whoami(t, r["token"]); c != 200 || who != id {
					t.Fatalf("token does not name the box: %d %q", c, who)
				}
			} else if r["message"] == "" {
				t.Fatalf("refusal without a message: %v", r)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	id, priv := e.enrol(t)
	signIn := func() string {
		n := e.nonce(t)
		code, r := e.post(t, "/api/box/token", map[string]string{"box_id": id, "nonce": n, "signature": sign(priv, n)})
		if code != 200 {
			t.Fatalf("sign in: %d %v", code, r)
		}
		return r["token"]
	}
	tok := signIn()
	if b, _ := e.st.TokenBox(context.Background(), tok, e.clock.Now()); b.ID != "" {
		t.Fatal("the token itself is a key in the store; only its hash may be")
	}
	if c, who := e.whoami(t, tok); c != 200 || who != id {
		t.Fatalf("whoami: %d %q", c, who)
	}
	checks := []struct {
		name    string
		token   string
		code    int
		errCode string
	}{
		{"no header", "", 401, "no_token"},
		{"unknown", otherToken(tok), 401, "bad_token"},
	}
	for _, c := range checks {
		code, body := e.whoami(t, c.token)
		var r map[string]string
		json.Unmarshal([]byte(body), &r)
		if code != c.code || r["error"] != c.errCode {
			t.Errorf("%s: %d %s, want %d %s", c.name, code, body, c.code, c.errCode)
		}
	}
	e.clock.Advance(boxauth.TokenTTL)
	if code, body := e.whoami(t, tok); code != 401 || !bytes.Contains([]byte(body), []byte("token_expired")) {
		t.Fatalf("after 15 min: %d %s", code, body)
	}
	tok2 := signIn()
	if err := boxauth.Revoke(context.Background(), e.st, id, "test", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if code, body := e.whoami(t, tok2); code != 403 || !bytes.Contains([]byte(body), []byte("box_revoked")) {
		t.Fatalf("token of a box just revoked: %d %s", code, body)
	}
	audit, _ := e.st.Audit(context.Background(), 10)
	if len(audit) < 2 || audit[0].Action != "box.revoke" || audit[0].Subject != id {
		t.Fatalf("audit = %+v", audit)
	}
}

func TestEnrollRefuses(t *testing.T) {
	e := newEnv(t)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	ctx := context.Background()
	if _, err := boxauth.Enroll(ctx, e.st, pub[:31], "x", "t", e.clock.Now()); err == nil {
		t.Fatal("short key enrolled")
	}
	if _, err := boxauth.Enroll(ctx, e.st, pub, "x", "t", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := boxauth.Enroll(ctx, e.st, pub, "x", "t", e.clock.Now()); !errors.Is(err, store.ErrExists) {
		t.Fatalf("enrol twice: %v", err)
	}
}

func TestStoreDownIs503(t *testing.T) {
	e := newEnv(t)
	e.enrol(t)
	e.st.Close()
	if code, r := e.post(t, "/api/box/challenge", nil); code != 503 || r["error"] != "unavailable" {
		t.Fatalf("challenge with the store down: %d %v", code, r)
	}
	if code, body := e.whoami(t, "sometoken"); code != 503 {
		t.Fatalf("auth with the store down: %d %s (a box must retry, not sign in again)", code, body)
	}
}

// otherToken is a well-formed token that differs from tok.
func otherToken(tok string) string {
	if tok[0] == 'x' {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}

// TestChallengeFlood: nonces are stored before anyone is known, so a flood
// of challenges is refused (429) instead of filling the database, and a
// moment later boxes can sign in again.
func TestChallengeFlood(t *testing.T) {
	e := newEnv(t)
	id, priv := e.enrol(t)
	refused := 0
	for range 300 {
		code, r := e.post(t, "/api/box/challenge", nil)
		switch {
		case code == 429 && r["error"] == "too_many_requests":
			refused++
		case code != 200:
			t.Fatalf("challenge: %d %v", code, r)
		}
	}
	if refused != 100 { // the fake clock stands still: exactly the burst passes
		t.Fatalf("%d of 300 refused, want 100", refused)
	}
	e.clock.Advance(time.Second)
	n := e.nonce(t)
	if code, r := e.post(t, "/api/box/token", map[string]string{"box_id": id, "nonce": n, "signature": sign(priv, n)}); code != 200 {
		t.Fatalf("sign in after the flood: %d %v", code, r)
	}
}
