package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/pgtest"
	"github.com/cunbo/cunbo/review/s3test"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wiretest"
)

// syncBuf is a bytes.Buffer safe to read while the server writes its log.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serve runs `serve` in the background; the returned stop cancels it and
// returns its exit code.
func serve(t *testing.T, args ...string) (base string, stop func() int, log *syncBuf) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	log = &syncBuf{}
	done := make(chan int, 1)
	go func() { done <- dispatch(ctx, append([]string{"serve", "--listen", addr}, args...), io.Discard, log) }()
	base = "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not up:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(60 * time.Second):
				t.Errorf("serve did not stop:\n%s", log.String())
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return base, stop, log
}

func signIn(t *testing.T, base, id string, priv ed25519.PrivateKey) (int, string) {
	t.Helper()
	var ch struct{ Nonce string }
	resp, err := http.Post(base+"/api/box/challenge", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&ch)
	resp.Body.Close()
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(boxauth.TokenContext+ch.Nonce)))
	body, _ := json.Marshal(map[string]string{"box_id": id, "nonce": ch.Nonce, "signature": sig})
	resp, err = http.Post(base+"/api/box/token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&tok)
	return resp.StatusCode, tok.Token
}

// upload is a tus creation POST and one PATCH; it returns the final status.
// hdr are more header name, value pairs for the creation.
func upload(t *testing.T, base, token, id string, body []byte, hdr ...string) (int, http.Header) {
	t.Helper()
	sum := sha256.Sum256(body)
	return uploadSum(t, base, token, id, hex.EncodeToString(sum[:]), body, hdr...)
}

func uploadSum(t *testing.T, base, token, id, sum string, body []byte, hdr ...string) (int, http.Header) {
	t.Helper()
	md := "kind " + base64.StdEncoding.EncodeToString([]byte("segment")) + ",id " + base64.StdEncoding.EncodeToString([]byte(id)) +
		",sha256 " + base64.StdEncoding.EncodeToString([]byte(sum))
	req, _ := http.NewRequest("POST", base+"/api/uploads/", nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Upload-Length", strconv.Itoa(len(body)))
	req.Header.Set("Upload-Metadata", md)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, resp.Header
	}
	req, _ = http.NewRequest("PATCH", resp.Header.Get("Location"), bytes.NewReader(body))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeSQLiteFiles is the county-office setup: one process, SQLite and
// files under --data; boxes enrolled and revoked with the CLI while it runs.
func TestServeSQLiteFiles(t *testing.T) {
	data := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	code, out, errOut := run(t, "box", "add", "--data", data, "--key-hex", hex.EncodeToString(pub), "--name", "村A")
	id := strings.TrimSpace(out)
	if code != 0 || id != boxauth.BoxID(pub) {
		t.Fatalf("box add: %d %q %s", code, out, errOut)
	}
	// A second box from a PEM file, as openssl writes it.
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub2)
	pemFile := filepath.Join(t.TempDir(), "box2.pub")
	os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	if code, out, errOut := run(t, "box", "add", "--data", data, "--key", pemFile); code != 0 || strings.TrimSpace(out) != boxauth.BoxID(pub2) {
		t.Fatalf("box add --key: %d %q %s", code, out, errOut)
	}
	if code, _, errOut := run(t, "box", "add", "--data", data, "--key-hex", hex.EncodeToString(pub)); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("box add twice: %d %s", code, errOut)
	}
	// A third as the trainer has it from the box's QR code.
	pub3, _, _ := ed25519.GenerateKey(rand.Reader)
	if code, out, errOut := run(t, "box", "add", "--data", data, "--key-hex", bundle.EnrolText(pub3)); code != 0 || strings.TrimSpace(out) != boxauth.BoxID(pub3) {
		t.Fatalf("box add --key-hex with the QR text: %d %q %s", code, out, errOut)
	}

	base, stop, log := serve(t, "--data", data)
	if c := getStatus(t, base+"/readyz"); c != 200 {
		t.Fatalf("readyz: %d\n%s", c, log.String())
	}
	c, tok := signIn(t, base, id, priv)
	if c != 200 || tok == "" {
		t.Fatalf("sign in: %d", c)
	}
	segID := wiretest.ID(1)
	body := wiretest.SegmentTar(t, segID, wiretest.Clip(t))
	if c, h := upload(t, base, tok, segID, body); c != 204 || h.Get("Cunbo-Stored") != "created" {
		t.Fatalf("upload: %d %v\n%s", c, h, log.String())
	}
	if _, err := os.Stat(filepath.Join(data, "review.db")); err != nil {
		t.Fatalf("SQLite file: %v", err)
	}
	sum := sha256.Sum256(body)
	clipPath := filepath.Join(data, "blobs", "segments", id, segID, hex.EncodeToString(sum[:]), "clip.mp4")
	if _, err := os.Stat(clipPath); err != nil {
		t.Fatalf("clip blob: %v", err)
	}

	_, out, _ = run(t, "box", "list", "--data", data)
	if !strings.Contains(out, id) || !strings.Contains(out, "村A") || !strings.Contains(out, "active") {
		t.Fatalf("box list:\n%s", out)
	}
	if code, out, errOut := run(t, "box", "revoke", "--data", data, id); code != 0 || !strings.Contains(out, id) {
		t.Fatalf("box revoke: %d %s %s", code, out, errOut)
	}
	// Revoked from another process (the CLI): the running service refuses
	// the token it already issued, at once.
	if c, _ := upload(t, base, tok, wiretest.ID(2), body); c != http.StatusForbidden {
		t.Fatalf("upload after revoke: %d", c)
	}
	if c, _ := signIn(t, base, id, priv); c != http.StatusForbidden {
		t.Fatalf("sign in after revoke: %d", c)
	}
	_, out, _ = run(t, "box", "list", "--data", data)
	if !strings.Contains(out, "revoked") {
		t.Fatalf("box list after revoke:\n%s", out)
	}
	if code, _, errOut := run(t, "box", "revoke", "--data", data, "00000000000000000000000000000000"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("revoke unknown: %d %s", code, errOut)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d after SIGTERM-like cancel:\n%s", code, log.String())
	}
	if !strings.Contains(log.String(), "stopped") {
		t.Fatalf("no clean stop in the log:\n%s", log.String())
	}
}

// TestServePostgresS3 is the province setup: PostgreSQL and an S3 bucket;
// /readyz follows each of them going away.
func TestServePostgresS3(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDB(t)
	// serve takes a URL; pgx reads the socket directory from host=.
	url := "postgres:///" + strings.Fields(dsn)[2][len("dbname="):] + "?host=" + strings.TrimPrefix(strings.Fields(dsn)[0], "host=") + "&user=postgres&sslmode=disable"
	s3 := s3test.Start(t, "clips")
	data := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	if code, _, errOut := run(t, "box", "add", "--db", url, "--key-hex", hex.EncodeToString(pub)); code != 0 {
		t.Fatalf("box add: %s", errOut)
	}
	base, stop, log := serve(t, "--data", data, "--db", url, "--blobs", s3.Spec("clips"))
	if c := getStatus(t, base+"/readyz"); c != 200 {
		t.Fatalf("readyz: %d\n%s", c, log.String())
	}
	id := boxauth.BoxID(pub)
	_, tok := signIn(t, base, id, priv)
	segID := wiretest.ID(3)
	clip := wiretest.Clip(t)
	body := wiretest.SegmentTar(t, segID, clip)
	if c, h := upload(t, base, tok, segID, body); c != 204 || h.Get("Cunbo-Stored") != "created" {
		t.Fatalf("upload: %d\n%s", c, log.String())
	}
	bs, err := blob.OpenURL(context.Background(), s3.Spec("clips"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	r, err := bs.Open(context.Background(), fmt.Sprintf("segments/%s/%s/%x/clip.mp4", id, segID, sum))
	if err != nil {
		t.Fatalf("clip in the bucket: %v", err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, clip) {
		t.Fatal("clip in the bucket differs")
	}
	if _, err := os.Stat(filepath.Join(data, "blobs")); err == nil {
		t.Fatal("with S3, blobs were also written under --data")
	}
	s3.Close()
	if c := getStatus(t, base+"/readyz"); c != 503 {
		t.Fatalf("readyz with the bucket gone: %d", c)
	}
	if c := getStatus(t, base+"/healthz"); c != 200 {
		t.Fatalf("healthz: %d", c)
	}
	pg.Stop(t)
	if c := getStatus(t, base+"/readyz"); c != 503 {
		t.Fatalf("readyz with the database gone: %d", c)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d:\n%s", code, log.String())
	}
}

func TestArgs(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage"},
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"box"}, 2, "unknown command"},
		{[]string{"box", "add", "--data", t.TempDir()}, 2, "exactly one"},
		{[]string{"box", "add", "--data", t.TempDir(), "--key-hex", "abcd"}, 1, "not an ed25519 public key"},
		{[]string{"box", "revoke", "--data", t.TempDir()}, 2, "want 1 argument"},
		{[]string{"box", "list"}, 1, "--data or --db"},
		{[]string{"serve"}, 2, "--data is required"},
		{[]string{"serve", "--data", t.TempDir(), "--db", "mysql://x"}, 1, "postgres://"},
		{[]string{"serve", "--data", t.TempDir(), "--blobs", "ftp://x"}, 1, "s3://"},
		{[]string{"serve", "--data", t.TempDir(), "--keep-clips", "0d"}, 2, "days"},
		{[]string{"serve", "--data", t.TempDir(), "--keep-records", "3 years"}, 2, "180d"},
		{[]string{"serve", "--data", t.TempDir(), "--keep-transcripts", "2h"}, 1, "at least one day"},
		{[]string{"forget", "--data", t.TempDir(), "--box", "aa"}, 2, "--by"},
		{[]string{"forget", "--box", "aa", "--by", "x"}, 2, "--data is required"},
		{[]string{"forget", "--data", t.TempDir(), "--box", "aa", "--by", "x"}, 1, "not found"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errOut := run(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.want)
			}
		})
	}
}

// TestImports keeps the layering: the box's binary carries none of the
// review service (no database drivers, no S3 client on the Pi), review
// never imports firmware, and cunbo-review builds without cgo.
func TestImports(t *testing.T) {
	deps := func(env []string, pkg string) string {
		cmd := exec.Command("go", "list", "-tags", "ne", "-deps", pkg)
		cmd.Env = append(os.Environ(), env...)
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		return string(out)
	}
	box := deps(nil, "./cmd/cunbo")
	for _, banned := range []string{"github.com/cunbo/cunbo/review", "github.com/jackc/pgx", "modernc.org/sqlite", "github.com/aws/", "github.com/tus/"} {
		if strings.Contains(box, banned) {
			t.Errorf("cmd/cunbo depends on %s", banned)
		}
	}
	review := deps([]string{"CGO_ENABLED=0"}, "./cmd/cunbo-review")
	if strings.Contains(review, "github.com/cunbo/cunbo/firmware") {
		t.Error("cunbo-review depends on firmware")
	}
	if !strings.Contains(review, "modernc.org/sqlite") {
		t.Error("go list saw no SQLite driver: the check is not looking at the right thing")
	}
}

// TestForget: her data deleted on request while the service runs: the
// clip, the transcript row, her unfinished upload and the directories named
// after her box all go, another box's stay, and the audit log says who
// asked and how many.
func TestForget(t *testing.T) {
	data := t.TempDir()
	var ids []string
	var keys []ed25519.PrivateKey
	for range 2 {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		if code, _, errOut := run(t, "box", "add", "--data", data, "--key-hex", hex.EncodeToString(pub)); code != 0 {
			t.Fatalf("box add: %s", errOut)
		}
		ids, keys = append(ids, boxauth.BoxID(pub)), append(keys, priv)
	}
	base, _, log := serve(t, "--data", data)
	clip := wiretest.Clip(t)
	for i, id := range ids {
		_, tok := signIn(t, base, id, keys[i])
		for n := range 2 {
			segID := wiretest.ID(i*2 + n)
			if c, _ := upload(t, base, tok, segID, wiretest.SegmentTar(t, segID, clip)); c != 204 {
				t.Fatalf("upload: %d\n%s", c, log.String())
			}
		}
	}
	// A half-sent upload of hers.
	_, tok := signIn(t, base, ids[0], keys[0])
	req, _ := http.NewRequest("POST", base+"/api/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Upload-Length", "1000")
	req.Header.Set("Upload-Metadata", "kind c2VnbWVudA==,id "+base64.StdEncoding.EncodeToString([]byte(wiretest.ID(9)))+",sha256 "+base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", 64))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %v %v", resp, err)
	}
	resp.Body.Close()

	code, out, errOut := run(t, "forget", "--data", data, "--box", ids[0], "--by", "王社工")
	if code != 0 || !strings.Contains(out, "removed 2 segments (2 with clips), 0 session records, 1 unfinished uploads") {
		t.Fatalf("forget: %d %q %s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "blobs", "segments", ids[0])); !os.IsNotExist(err) {
		t.Fatalf("her blob directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "blobs", "segments", ids[1])); err != nil {
		t.Fatalf("other box's blobs: %v", err)
	}
	filepath.Walk(filepath.Join(data, "uploads"), func(p string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() && strings.HasSuffix(p, ".info") {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), ids[0]) {
				t.Errorf("her unfinished upload remains: %s", p)
			}
		}
		return nil
	})
	code, out, _ = run(t, "forget", "--data", data, "--box", ids[1], "--segment", wiretest.ID(2), "--by", "李")
	if code != 0 || !strings.Contains(out, "removed 1 segments") {
		t.Fatalf("forget one segment: %d %q", code, out)
	}
	st, err := store.Open(context.Background(), "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if segs, _ := st.Segments(context.Background(), ids[0]); len(segs) != 0 {
		t.Fatalf("her segments remain: %d", len(segs))
	}
	if segs, _ := st.Segments(context.Background(), ids[1]); len(segs) != 1 || segs[0].ID != wiretest.ID(3) {
		t.Fatalf("other box's segments: %+v", segs)
	}
	audit, _ := st.Audit(context.Background(), 20)
	var got []string
	for _, e := range audit {
		if strings.HasPrefix(e.Action, "forget.") {
			got = append(got, e.Actor+" "+e.Action+" "+e.Detail)
		}
	}
	want := "cli:李 forget.segments count=1|cli:王社工 forget.sessions count=0|cli:王社工 forget.segments count=2"
	if strings.Join(got, "|") != want {
		t.Fatalf("audit: %q, want %q", strings.Join(got, "|"), want)
	}
}

// scrape reads /metrics into sample name{labels} -> value lines.
func scrape(t *testing.T, base string) map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	b, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") {
			out[line[:i]] = line[i+1:]
		}
	}
	return out
}

// TestMetrics: the counters move with real uploads and refusals, the
// queue age a box reports is recorded, and requests are timed by route.
func TestMetrics(t *testing.T) {
	data := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	if code, _, errOut := run(t, "box", "add", "--data", data, "--key-hex", hex.EncodeToString(pub)); code != 0 {
		t.Fatal(errOut)
	}
	base, _, log := serve(t, "--data", data)
	_, tok := signIn(t, base, boxauth.BoxID(pub), priv)
	body := wiretest.SegmentTar(t, wiretest.ID(1), wiretest.Clip(t))
	if c, _ := upload(t, base, tok, wiretest.ID(1), body, "Cunbo-Queue-Age", "7200"); c != 204 {
		t.Fatalf("upload: %d\n%s", c, log.String())
	}
	if c, _ := upload(t, base, tok, wiretest.ID(1), body, "Cunbo-Queue-Age", "not a number"); c != 204 {
		t.Fatalf("upload again: %d", c)
	}
	if c, _ := uploadSum(t, base, tok, wiretest.ID(2), strings.Repeat("0", 64), body); c != 460 {
		t.Fatalf("wrong hash: %d", c)
	}
	if c, _ := upload(t, base, "not-a-token", wiretest.ID(3), body); c != 401 {
		t.Fatalf("bad token: %d", c)
	}
	m := scrape(t, base)
	want := map[string]string{
		`cunbo_review_uploads_started_total{kind="segment"}`:                                                "3",
		`cunbo_review_uploads_completed_total{kind="segment",stored="created"}`:                             "1",
		`cunbo_review_uploads_completed_total{kind="segment",stored="existing"}`:                            "1",
		`cunbo_review_received_bytes_total`:                                                                 strconv.Itoa(3 * len(body)),
		`cunbo_review_failures_total{reason="hash_mismatch"}`:                                               "1",
		`cunbo_review_failures_total{reason="bad_token"}`:                                                   "1",
		`cunbo_review_box_queue_age_seconds_count`:                                                          "1",
		`cunbo_review_box_queue_age_seconds_sum`:                                                            "7200",
		`cunbo_review_box_queue_age_seconds_bucket{le="3600"}`:                                              "0",
		`cunbo_review_box_queue_age_seconds_bucket{le="21600"}`:                                             "1",
		`cunbo_review_request_duration_seconds_count{code="201",method="POST",route="/api/uploads/"}`:       "3",
		`cunbo_review_request_duration_seconds_count{code="200",method="POST",route="POST /api/box/token"}`: "1",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	if _, ok := m["process_resident_memory_bytes"]; !ok {
		t.Error("no process_resident_memory_bytes")
	}
	for k := range m {
		if strings.Contains(k, wiretest.ID(1)) || strings.Contains(k, "/api/uploads/0") || strings.Contains(k, "/api/uploads/a") {
			t.Errorf("an id became a label: %s", k)
		}
	}
}
