// Package boxauth signs boxes in with their own ed25519 keys and checks the
// bearer tokens it hands out. There is no shared secret: a box proves it
// holds the private key of an enrolled public key by signing a single-use
// nonce, and gets a short-lived random token, kept by the service only as
// its hash.
//
//	POST /api/box/challenge                         → {"nonce", "expires_at"}
//	POST /api/box/token {"box_id","nonce","signature"} → {"token", "expires_at"}
//
// signature = ed25519.Sign(priv, TokenContext+nonce), base64 (standard).
package boxauth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"

	"github.com/cunbo/cunbo/review/store"
)

// TokenContext prefixes the signed nonce, so a box's signature over a nonce
// can never be replayed as a signature for anything else.
const TokenContext = "cunbo-review-token-v1\n"

// Lifetimes.
const (
	NonceTTL = 60 * time.Second
	TokenTTL = 15 * time.Minute
)

// maxBody bounds the JSON a sign-in request may send.
const maxBody = 4 << 10

// BoxID is a box's id: the hex of the first 16 bytes of SHA-256(public key).
func BoxID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// HashToken is how a token is kept in the store.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Error is a refusal with its HTTP status and a stable code boxes can act
// on (e.g. sign in again on token_expired).
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// The refusals, each its own code.
var (
	ErrBadRequest   = &Error{http.StatusBadRequest, "bad_request", "request body is not the expected JSON"}
	ErrUnknownNonce = &Error{http.StatusUnauthorized, "unknown_nonce", "nonce was not issued by this service"}
	ErrNonceUsed    = &Error{http.StatusUnauthorized, "nonce_used", "nonce was already used; ask for a new challenge"}
	ErrNonceExpired = &Error{http.StatusUnauthorized, "nonce_expired", "nonce expired; ask for a new challenge"}
	ErrUnknownBox   = &Error{http.StatusUnauthorized, "unknown_box", "box is not enrolled"}
	ErrRevoked      = &Error{http.StatusForbidden, "box_revoked", "box was revoked"}
	ErrBadSignature = &Error{http.StatusUnauthorized, "bad_signature", "signature does not verify with the box's key"}
	ErrNoToken      = &Error{http.StatusUnauthorized, "no_token", "Authorization: Bearer <token> is missing"}
	ErrBadToken     = &Error{http.StatusUnauthorized, "bad_token", "token is not known; sign in again"}
	ErrTokenExpired = &Error{http.StatusUnauthorized, "token_expired", "token expired; sign in again"}
	ErrUnavailable  = &Error{http.StatusServiceUnavailable, "unavailable", "storage is unavailable; retry later"}
	ErrTooMany      = &Error{http.StatusTooManyRequests, "too_many_requests", "too many sign-ins; retry later"}
)

// Challenges are written to the database before anyone is known, so their
// rate is bounded for the whole service: a fleet signs in a few times an
// hour per box, far below this.
const (
	challengeRate  = 50 // per second
	challengeBurst = 200
)

// WriteError writes e as JSON.
func WriteError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e)
}

// Service issues challenges and tokens and checks tokens.
type Service struct {
	store      store.Store
	clock      clockwork.Clock
	log        *slog.Logger
	challenges *rate.Limiter
}

// New returns a Service over st. clock may be nil (the real clock).
func New(st store.Store, clock clockwork.Clock, log *slog.Logger) *Service {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: st, clock: clock, log: log, challenges: rate.NewLimiter(challengeRate, challengeBurst)}
}

// Register adds the sign-in endpoints to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/box/challenge", s.challenge)
	mux.HandleFunc("POST /api/box/token", s.token)
}

type challengeResp struct {
	Nonce     string    `json:"nonce"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Service) challenge(w http.ResponseWriter, r *http.Request) {
	if !s.challenges.AllowN(s.clock.Now(), 1) {
		w.Header().Set("Retry-After", "5")
		WriteError(w, ErrTooMany)
		return
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails
	nonce := base64.StdEncoding.EncodeToString(raw[:])
	exp := s.clock.Now().Add(NonceTTL).UTC()
	if err := s.store.PutChallenge(r.Context(), nonce, exp); err != nil {
		s.log.Error("boxauth: challenge", "err", err)
		WriteError(w, ErrUnavailable)
		return
	}
	writeJSON(w, challengeResp{Nonce: nonce, ExpiresAt: exp})
}

type tokenReq struct {
	BoxID     string `json:"box_id"`
	Nonce     string `json:"nonce"`
	Signature string `json:"signature"`
}

type tokenResp struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Service) token(w http.ResponseWriter, r *http.Request) {
	var req tokenReq
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.BoxID == "" || req.Nonce == "" || req.Signature == "" {
		WriteError(w, ErrBadRequest)
		return
	}
	sig, err := base64.StdEncoding.DecodeString(req.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		WriteError(w, ErrBadSignature)
		return
	}
	ctx := r.Context()
	now := s.clock.Now()
	// The nonce is used up before anything else is checked, so no attempt,
	// good or bad, can use it twice.
	if err := s.store.TakeChallenge(ctx, req.Nonce, now); err != nil {
		WriteError(w, s.storeErr(err, map[error]*Error{
			store.ErrNotFound: ErrUnknownNonce, store.ErrUsed: ErrNonceUsed, store.ErrExpired: ErrNonceExpired,
		}))
		return
	}
	b, err := s.store.Box(ctx, req.BoxID)
	if err != nil {
		WriteError(w, s.storeErr(err, map[error]*Error{store.ErrNotFound: ErrUnknownBox}))
		return
	}
	if b.IsRevoked() {
		WriteError(w, ErrRevoked)
		return
	}
	if len(b.PublicKey) != ed25519.PublicKeySize || !ed25519.Verify(b.PublicKey, []byte(TokenContext+req.Nonce), sig) {
		s.log.Warn("boxauth: bad signature", "box", b.ID)
		WriteError(w, ErrBadSignature)
		return
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	exp := now.Add(TokenTTL).UTC()
	if err := s.store.PutToken(ctx, store.Token{Hash: HashToken(tok), BoxID: b.ID, Expires: exp}); err != nil {
		s.log.Error("boxauth: token", "err", err)
		WriteError(w, ErrUnavailable)
		return
	}
	writeJSON(w, tokenResp{Token: tok, ExpiresAt: exp})
}

// storeErr maps a store error to a refusal; anything unexpected means the
// storage is failing, which the box should retry.
func (s *Service) storeErr(err error, m map[error]*Error) *Error {
	for k, v := range m {
		if errors.Is(err, k) {
			return v
		}
	}
	s.log.Error("boxauth: store", "err", err)
	return ErrUnavailable
}

// Authenticate checks the request's bearer token and returns its box. A
// revoked box's tokens stop working at once: the box is read on every
// request.
func (s *Service) Authenticate(r *http.Request) (store.Box, *Error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return store.Box{}, ErrNoToken
	}
	b, err := s.store.TokenBox(r.Context(), HashToken(strings.TrimSpace(tok)), s.clock.Now())
	if err != nil {
		return store.Box{}, s.storeErr(err, map[error]*Error{store.ErrNotFound: ErrBadToken, store.ErrExpired: ErrTokenExpired})
	}
	if b.IsRevoked() {
		return store.Box{}, ErrRevoked
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v) // a write error means the box went away
}

// Enroll adds a box by its public key and logs it; it returns the box's id.
func Enroll(ctx context.Context, st store.Store, pub []byte, name, actor string, now time.Time) (string, error) {
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("boxauth: public key is %d bytes, want %d (ed25519)", len(pub), ed25519.PublicKeySize)
	}
	id := BoxID(pub)
	if err := st.AddBox(ctx, store.Box{ID: id, PublicKey: pub, Name: name, Added: now}); err != nil {
		return "", fmt.Errorf("boxauth: enrol %s: %w", id, err)
	}
	if err := st.AppendAudit(ctx, store.AuditEntry{At: now, Actor: actor, Action: "box.add", Subject: id, Detail: name}); err != nil {
		return id, fmt.Errorf("boxauth: enrol %s: %w", id, err)
	}
	return id, nil
}

// Revoke stops a box at once (its tokens too) and logs it.
func Revoke(ctx context.Context, st store.Store, id, actor string, now time.Time) error {
	if err := st.RevokeBox(ctx, id, now); err != nil {
		return fmt.Errorf("boxauth: revoke %s: %w", id, err)
	}
	if err := st.AppendAudit(ctx, store.AuditEntry{At: now, Actor: actor, Action: "box.revoke", Subject: id}); err != nil {
		return fmt.Errorf("boxauth: revoke %s: %w", id, err)
	}
	return nil
}
