package upload

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TokenContext prefixes the signed nonce (the review service's boxauth).
const TokenContext = "cunbo-review-token-v1\n"

// tokenMargin: a token is renewed this long before it expires, so a long
// PATCH never starts with a token about to die.
const tokenMargin = 2 * time.Minute

// errKind says what the uploader does after a failed request.
type errKind int

const (
	errRetry     errKind = iota // network or 5xx: back off and retry
	errAuth                     // 401 on an upload request: sign in again once
	errPermanent                // refused for good: keep it on the box, never resend
	errGone                     // the upload URL is unknown: create a new upload
	errSignIn                   // the service does not take this box's key
)

// reqError is a failed request with what to do about it. Message is the
// server's own words when it gave any.
type reqError struct {
	kind    errKind
	status  int
	message string
	err     error
}

func (e *reqError) Error() string {
	switch {
	case e.err != nil:
		return e.err.Error()
	case e.message != "":
		return fmt.Sprintf("HTTP %d: %s", e.status, e.message)
	default:
		return fmt.Sprintf("HTTP %d", e.status)
	}
}

func (e *reqError) Unwrap() error { return e.err }

func kindOf(err error) errKind {
	var re *reqError
	if errors.As(err, &re) {
		return re.kind
	}
	return errRetry
}

// client speaks the review service's sign-in and tus 1.0.
type client struct {
	base *url.URL
	http *http.Client
	key  ed25519.PrivateKey
	box  string
	now  func() time.Time

	token   string
	expires time.Time
}

// signIn gets a fresh token: challenge, sign, token.
func (c *client) signIn(ctx context.Context) error {
	var ch struct {
		Nonce string `json:"nonce"`
	}
	if _, err := c.postJSON(ctx, "api/box/challenge", nil, &ch); err != nil {
		return err
	}
	nonce, err := base64.StdEncoding.DecodeString(ch.Nonce)
	if err != nil || len(nonce) == 0 {
		return &reqError{kind: errRetry, err: fmt.Errorf("upload: challenge: bad nonce %q", ch.Nonce)}
	}
	sig := ed25519.Sign(c.key, []byte(TokenContext+ch.Nonce))
	req := map[string]string{"box_id": c.box, "nonce": ch.Nonce, "signature": base64.StdEncoding.EncodeToString(sig)}
	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	sent := c.now()
	hdr, err := c.postJSON(ctx, "api/box/token", req, &tok)
	if err != nil {
		if re := (*reqError)(nil); errors.As(err, &re) && (re.status == http.StatusUnauthorized || re.status == http.StatusForbidden) {
			re.kind = errSignIn
		}
		return err
	}
	if tok.Token == "" {
		return &reqError{kind: errRetry, err: errors.New("upload: sign-in answered no token")}
	}
	// The box may have no real-time clock (a Pi before NTP has synced):
	// the token's lifetime is measured on the service's clock (its Date
	// header) and counted from the request on the box's own.
	life := tok.ExpiresAt.Sub(sent)
	if at, err := http.ParseTime(hdr.Get("Date")); err == nil {
		life = tok.ExpiresAt.Sub(at)
	}
	c.token, c.expires = tok.Token, sent.Add(life)
	return nil
}

// ensureToken signs in when there is no token or it is about to expire.
func (c *client) ensureToken(ctx context.Context) error {
	if c.token != "" && c.now().Add(tokenMargin).Before(c.expires) {
		return nil
	}
	return c.signIn(ctx)
}

func (c *client) postJSON(ctx context.Context, path string, in, out any) (http.Header, error) {
	return c.doJSON(ctx, http.MethodPost, path, in, out, false)
}

// doJSON sends in as JSON (nil: no body), with the box's token when
// bearer, and decodes a 200 answer into out.
func (c *client) doJSON(ctx context.Context, method, path string, in, out any, bearer bool) (http.Header, error) {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	target := c.base.JoinPath(path)
	if p, q, ok := strings.Cut(path, "?"); ok {
		target = c.base.JoinPath(p)
		target.RawQuery = q
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &reqError{kind: errRetry, err: fmt.Errorf("upload: %s: %w", path, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(out); err != nil {
		return nil, &reqError{kind: errRetry, err: fmt.Errorf("upload: %s: %w", path, err)}
	}
	return resp.Header, nil
}

// statusChecksumMismatch is tus's status for a body whose checksum is not
// the announced one.
const statusChecksumMismatch = 460

// statusError classifies an unexpected answer and keeps the server's
// message ({"error","message"} from the service, plain text from tusd).
func statusError(resp *http.Response) *reqError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	msg := strings.TrimSpace(string(raw))
	var e struct {
		Code    string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	re := &reqError{status: resp.StatusCode, message: msg}
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized:
		re.kind = errAuth
	case s == http.StatusForbidden:
		re.kind = errSignIn
	case s == http.StatusNotFound || s == http.StatusGone || s == statusChecksumMismatch:
		// The server dropped the upload (or refused a body whose hash was
		// not the announced one): build it again and start a new one.
		re.kind = errGone
	case s == http.StatusConflict && strings.Contains(string(raw), "ERR_MISMATCHED_OFFSET"):
		// tus's own 409: a PATCH at an offset the server does not have;
		// HEAD tells the right one.
		re.kind = errRetry
	case s == http.StatusConflict, s == http.StatusBadRequest, s == http.StatusRequestEntityTooLarge:
		re.kind = errPermanent
	default:
		re.kind = errRetry
	}
	return re
}

// requestTimeout bounds one request: a link that stalls without closing
// (a mountain mast losing power) must not hold an upload for the quarter
// hour TCP takes to give up. A 1 MiB chunk needs only 3.5 KB/s to fit.
const requestTimeout = 5 * time.Minute

// tusRequest makes a tus request; cancel must be called once its response
// is read.
func (c *client) tusRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+c.token)
	return req, cancel, nil
}

// create starts an upload and returns its absolute URL.
func (c *client) create(ctx context.Context, it *item) (string, error) {
	req, cancel, err := c.tusRequest(ctx, http.MethodPost, c.base.JoinPath("api/uploads/").String(), http.NoBody)
	if err != nil {
		return "", err
	}
	defer cancel()
	req.Header.Set("Upload-Length", strconv.FormatInt(it.Size, 10))
	req.Header.Set("Upload-Metadata", metadata("kind", it.Kind, "id", it.ID, "sha256", it.SHA256))
	// Segments go oldest first, so this one's age (its id starts with its
	// UTC time) is the queue's: the service's metrics show boxes falling behind.
	if at, err := time.Parse("20060102T150405", it.ID[:min(15, len(it.ID))]); err == nil && it.Kind == KindSegment {
		req.Header.Set("Cunbo-Queue-Age", strconv.FormatInt(int64(max(0, c.now().Sub(at).Seconds())), 10))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", &reqError{kind: errRetry, err: fmt.Errorf("upload: create: %w", err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", statusError(resp)
	}
	loc, err := resp.Location()
	if err != nil {
		return "", &reqError{kind: errRetry, err: fmt.Errorf("upload: create: %w", err)}
	}
	return loc.String(), nil
}

// metadata encodes tus Upload-Metadata: key and base64 value pairs.
func metadata(kv ...string) string {
	parts := make([]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// offset asks the server how much of an upload it has.
func (c *client) offset(ctx context.Context, loc string) (int64, error) {
	req, cancel, err := c.tusRequest(ctx, http.MethodHead, loc, nil)
	if err != nil {
		return 0, err
	}
	defer cancel()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, &reqError{kind: errRetry, err: fmt.Errorf("upload: head: %w", err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return 0, statusError(resp)
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 {
		return 0, &reqError{kind: errRetry, err: fmt.Errorf("upload: head: bad Upload-Offset %q", resp.Header.Get("Upload-Offset"))}
	}
	return off, nil
}

// patch sends n bytes of r at off and returns the server's new offset.
func (c *client) patch(ctx context.Context, loc string, off int64, r io.Reader, n int64) (int64, error) {
	req, cancel, err := c.tusRequest(ctx, http.MethodPatch, loc, io.LimitReader(r, n))
	if err != nil {
		return 0, err
	}
	defer cancel()
	req.ContentLength = n
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, &reqError{kind: errRetry, err: fmt.Errorf("upload: patch: %w", err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return 0, statusError(resp)
	}
	got, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		return 0, &reqError{kind: errRetry, err: fmt.Errorf("upload: patch: bad Upload-Offset %q", resp.Header.Get("Upload-Offset"))}
	}
	return got, nil
}

// BoxClient is the box signed in to the review service for its small JSON
// APIs (the coaching notes), with the uploader's sign-in and key. It is
// safe for concurrent use; its token is its own, not the uploader's.
type BoxClient struct {
	mu sync.Mutex
	c  *client
}

// NewBoxClient makes a client of the review service at rawURL signing in
// with key; hc nil uses one with timeouts for a weak link.
func NewBoxClient(rawURL string, key ed25519.PrivateKey, hc *http.Client) (*BoxClient, error) {
	base, err := url.Parse(rawURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("upload: review url %q is not an http(s) URL", rawURL)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("upload: no box key")
	}
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	pub := key.Public().(ed25519.PublicKey)
	return &BoxClient{c: &client{base: base, http: hc, key: key, box: BoxID(pub), now: time.Now}}, nil
}

// Do sends in as JSON (nil: no body) to path (relative to the service,
// query allowed) with the box's bearer token, signing in first when
// needed and once more after a 401, and decodes a 200 answer into out.
func (b *BoxClient) Do(ctx context.Context, method, path string, in, out any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for try := 0; ; try++ {
		if err := b.c.ensureToken(ctx); err != nil {
			return err
		}
		_, err := b.c.doJSON(ctx, method, path, in, out, true)
		if kindOf(err) == errAuth && try == 0 {
			b.c.token = "" // expired or forgotten by the service
			continue
		}
		return err
	}
}

// Refused reports whether the service refused a request for good (a bad
// or unknown thing asked for): sending it again changes nothing. Network
// trouble, a service error and a box not (yet) enrolled are not refusals.
func Refused(err error) bool {
	var re *reqError
	if !errors.As(err, &re) {
		return false
	}
	switch re.status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusGone, http.StatusConflict,
		http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}
