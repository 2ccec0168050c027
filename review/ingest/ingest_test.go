package ingest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/internal/tmpfstest"
	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/ingest"
	"github.com/cunbo/cunbo/review/pgtest"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wiretest"
)

type env struct {
	h         *ingest.Handler
	st        store.Store
	blobDir   string
	uploadDir string
	srv       *httptest.Server
}

type opts struct {
	st        store.Store // nil: SQLite in a temp dir
	blobDir   string      // "": a temp dir
	uploadDir string      // "": a temp dir
	maxSize   int64
}

func newEnv(t *testing.T, o opts) *env {
	t.Helper()
	dir := t.TempDir()
	if o.st == nil {
		st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "review.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		o.st = st
	}
	if o.blobDir == "" {
		o.blobDir = filepath.Join(dir, "blobs")
	}
	blobs, err := blob.NewFiles(o.blobDir)
	if err != nil {
		t.Fatal(err)
	}
	auth := boxauth.New(o.st, nil, nil)
	up := o.uploadDir
	if up == "" {
		up = filepath.Join(dir, "uploads")
	}
	h, err := ingest.New(ingest.Config{Store: o.st, Blobs: blobs, Auth: auth, UploadDir: up, MaxSize: o.maxSize})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	auth.Register(mux)
	mux.Handle(ingest.BasePath, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{h: h, st: o.st, blobDir: o.blobDir, uploadDir: up, srv: srv}
}

// box enrols a new box and signs it in over HTTP as a box would.
func (e *env) box(t *testing.T) (id, token string) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	id, err := boxauth.Enroll(context.Background(), e.st, pub, "t", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var ch struct{ Nonce string }
	postJSON(t, e.srv.URL+"/api/box/challenge", nil, &ch)
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(boxauth.TokenContext+ch.Nonce)))
	var tok struct{ Token string }
	postJSON(t, e.srv.URL+"/api/box/token", map[string]string{"box_id": id, "nonce": ch.Nonce, "signature": sig}, &tok)
	return id, tok.Token
}

func postJSON(t *testing.T, url string, in, out any) {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// result is a tus response, its JSON error parsed when there is one.
type result struct {
	code   int
	header http.Header
	Err    string `json:"error"`
	Msg    string `json:"message"`
}

func do(t *testing.T, method, url, token string, hdr map[string]string, body io.Reader) result {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := result{code: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 && resp.StatusCode >= 400 {
		if err := json.Unmarshal(raw, &r); err != nil {
			r.Msg = string(raw)
		}
	}
	return r
}

func meta(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// create is the tus creation POST.
func (e *env) create(t *testing.T, token, metadata string, length int) (string, result) {
	t.Helper()
	r := do(t, "POST", e.srv.URL+ingest.BasePath, token, map[string]string{"Upload-Length": strconv.Itoa(length), "Upload-Metadata": metadata}, nil)
	loc := r.header.Get("Location")
	if r.code == http.StatusCreated && !strings.HasPrefix(loc, e.srv.URL+ingest.BasePath) {
		t.Fatalf("Location %q", loc)
	}
	return loc, r
}

func patch(t *testing.T, url, token string, off int, body []byte) result {
	t.Helper()
	return do(t, "PATCH", url, token, map[string]string{"Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream"}, bytes.NewReader(body))
}

// upload sends body in two PATCHes and returns the last response.
func (e *env) upload(t *testing.T, token, kind, id, sha string, body []byte) result {
	t.Helper()
	loc, r := e.create(t, token, meta("kind", kind, "id", id, "sha256", sha), len(body))
	if r.code != http.StatusCreated {
		return r
	}
	half := len(body) / 2
	if r := patch(t, loc, token, 0, body[:half]); r.code != http.StatusNoContent {
		t.Fatalf("first PATCH: %d %s %s", r.code, r.Err, r.Msg)
	}
	return patch(t, loc, token, half, body[half:])
}

// blobs lists every file under the blob root.
func (e *env) blobs(t *testing.T) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(e.blobDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(e.blobDir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// uploadsLeft lists tus uploads still on disk (lock files aside).
func (e *env) uploadsLeft(t *testing.T) []string {
	t.Helper()
	ents, _ := os.ReadDir(e.uploadDir)
	var out []string
	for _, d := range ents {
		if !strings.HasSuffix(d.Name(), ".lock") {
			out = append(out, d.Name())
		}
	}
	return out
}

func TestUploadSegment(t *testing.T) {
	e := newEnv(t, opts{})
	boxID, tok := e.box(t)
	clip := wiretest.Clip(t)
	id := wiretest.ID(1)
	body := wiretest.SegmentTar(t, id, clip)
	r := e.upload(t, tok, "segment", id, sum(body), body)
	if r.code != http.StatusNoContent || r.header.Get("Cunbo-Stored") != "created" {
		t.Fatalf("final PATCH: %d %s %s (Cunbo-Stored %q)", r.code, r.Err, r.Msg, r.header.Get("Cunbo-Stored"))
	}
	row, err := e.st.Segment(context.Background(), boxID, id)
	if err != nil {
		t.Fatal(err)
	}
	if row.SHA256 != sum(body) || row.Size != int64(len(body)) || row.Reason != "finding" || !row.At.Equal(wiretest.At) {
		t.Fatalf("row = %+v", row)
	}
	gotClip, err := os.ReadFile(filepath.Join(e.blobDir, row.ClipKey))
	if err != nil || !bytes.Equal(gotClip, clip) {
		t.Fatalf("clip blob: %d bytes, %v", len(gotClip), err)
	}
	gotJSON, err := os.ReadFile(filepath.Join(e.blobDir, row.JSONKey))
	if err != nil || !bytes.Equal(gotJSON, row.JSON) || !bytes.Contains(gotJSON, []byte(id)) {
		t.Fatalf("segment.json blob: %q, %v", gotJSON, err)
	}
	if left := e.uploadsLeft(t); len(left) != 0 {
		t.Fatalf("finished upload left on disk: %v", left)
	}

	// Again, as a box does when the acknowledgement was lost: success,
	// no second copy, no second audit entry.
	before := e.blobs(t)
	r = e.upload(t, tok, "segment", id, sum(body), body)
	if r.code != http.StatusNoContent || r.header.Get("Cunbo-Stored") != "existing" {
		t.Fatalf("same upload again: %d %s %s (Cunbo-Stored %q)", r.code, r.Err, r.Msg, r.header.Get("Cunbo-Stored"))
	}
	if after := e.blobs(t); fmt.Sprint(after) != fmt.Sprint(before) || len(after) != 2 {
		t.Fatalf("blobs %v, then %v", before, after)
	}
	audit, _ := e.st.Audit(context.Background(), 100)
	n := 0
	for _, a := range audit {
		if a.Action == "segment.received" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d segment.received entries, want 1", n)
	}

	// The same id with other content is a conflict, and changes nothing.
	other := wiretest.SegmentTar(t, id, nil)
	r = e.upload(t, tok, "segment", id, sum(other), other)
	if r.code != http.StatusConflict || r.Err != "conflict" {
		t.Fatalf("same id, other body: %d %s %s", r.code, r.Err, r.Msg)
	}
	if row2, _ := e.st.Segment(context.Background(), boxID, id); row2.SHA256 != row.SHA256 {
		t.Fatal("conflicting upload replaced the segment")
	}
	if after := e.blobs(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("conflicting upload left blobs: %v", after)
	}

	// A segment without a clip (recorder off) is stored without one.
	id2 := wiretest.ID(2)
	noClip := wiretest.SegmentTar(t, id2, nil)
	if r := e.upload(t, tok, "segment", id2, sum(noClip), noClip); r.code != http.StatusNoContent {
		t.Fatalf("segment without clip: %d %s %s", r.code, r.Err, r.Msg)
	}
	if row, err := e.st.Segment(context.Background(), boxID, id2); err != nil || row.ClipKey != "" {
		t.Fatalf("segment without clip: %+v %v", row, err)
	}
}

// TestResume: a PATCH cut off mid-body, then HEAD for the offset the server
// kept, then the rest from there: the segment arrives whole.
func TestResume(t *testing.T) {
	e := newEnv(t, opts{})
	boxID, tok := e.box(t)
	clip := wiretest.Clip(t)
	id := wiretest.ID(3)
	body := wiretest.SegmentTar(t, id, clip)
	loc, r := e.create(t, tok, meta("kind", "segment", "id", id, "sha256", sum(body)), len(body))
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s %s", r.code, r.Err, r.Msg)
	}
	if r := patch(t, loc, tok, 0, body[:1000]); r.code != http.StatusNoContent || r.header.Get("Upload-Offset") != "1000" {
		t.Fatalf("first PATCH: %d offset %s", r.code, r.header.Get("Upload-Offset"))
	}
	// The connection drops after part of the second PATCH's body.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PATCH", loc, pr)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Upload-Offset", "1000")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.ContentLength = int64(len(body) - 1000)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	pw.Write(body[1000:3000])
	time.Sleep(300 * time.Millisecond) // let the server write what arrived
	pw.CloseWithError(errors.New("link lost"))
	<-done
	// The server notices the cut connection and releases the upload's lock;
	// as a box would, HEAD for the offset it kept and send the rest from
	// there, again while the server is still busy with the cut request.
	var final result
	var off int
	deadline := time.Now().Add(30 * time.Second)
	for {
		h := do(t, "HEAD", loc, tok, nil, nil)
		off, _ = strconv.Atoi(h.header.Get("Upload-Offset"))
		if h.code == http.StatusOK {
			if h.header.Get("Upload-Length") != strconv.Itoa(len(body)) || off < 1000 || off > 3000 {
				t.Fatalf("HEAD after the cut: offset %d of %s, want 1000..3000 of %d", off, h.header.Get("Upload-Length"), len(body))
			}
			t.Logf("resuming from offset %d", off)
			if final = patch(t, loc, tok, off, body[off:]); final.code == http.StatusNoContent {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("resume: HEAD %d, PATCH %d %s %s", h.code, final.code, final.Err, final.Msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if final.code != http.StatusNoContent || final.header.Get("Cunbo-Stored") != "created" {
		t.Fatalf("resumed PATCH from %d: %d %s %s", off, final.code, final.Err, final.Msg)
	}
	if row, err := e.st.Segment(context.Background(), boxID, id); err != nil || row.SHA256 != sum(body) {
		t.Fatalf("resumed segment: %+v %v", row, err)
	}
}

func TestRefusals(t *testing.T) {
	e := newEnv(t, opts{maxSize: 1 << 20})
	boxID, tok := e.box(t)
	_, otherTok := e.box(t)
	revokedID, revokedTok := e.box(t)
	if err := boxauth.Revoke(context.Background(), e.st, revokedID, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	clip := wiretest.Clip(t)
	id := wiretest.ID(4)
	good := wiretest.SegmentTar(t, id, clip)
	missingClip := wiretest.Tar(t, wiretest.Entry{Name: "segment.json", Body: wiretest.JSON(t, wiretest.Segment(id, len(clip)))})
	otherID := wiretest.SegmentTar(t, wiretest.ID(5), nil)
	badSession := []byte(`{"version":1,"id":"s1","start":"2026-11-28T10:00:00Z","end":"2026-11-28T09:00:00Z"}`)

	// Creation is refused before any byte is sent.
	creations := []struct {
		name, token, meta string
		length            int
		code              int
		err               string
	}{
		{"no token", "", meta("kind", "segment", "id", id, "sha256", sum(good)), len(good), 401, "no_token"},
		{"unknown token", otherToken(tok), meta("kind", "segment", "id", id, "sha256", sum(good)), len(good), 401, "bad_token"},
		{"revoked box", revokedTok, meta("kind", "segment", "id", id, "sha256", sum(good)), len(good), 403, "box_revoked"},
		{"too large", tok, meta("kind", "segment", "id", id, "sha256", sum(good)), 1<<20 + 1, 413, "ERR_MAX_SIZE_EXCEEDED"},
		{"session too large", tok, meta("kind", "session", "id", "s1", "sha256", sum(good)), 1<<20 + 1, 413, ""},
		{"no kind", tok, meta("id", id, "sha256", sum(good)), len(good), 400, "bad_metadata"},
		{"other kind", tok, meta("kind", "clip", "id", id, "sha256", sum(good)), len(good), 400, "bad_metadata"},
		{"bad id", tok, meta("kind", "segment", "id", "../../etc/passwd", "sha256", sum(good)), len(good), 400, "bad_metadata"},
		{"bad session id", tok, meta("kind", "session", "id", "a/b", "sha256", sum(good)), 10, 400, "bad_metadata"},
		{"sha256 not hex", tok, meta("kind", "segment", "id", id, "sha256", "xyz"), len(good), 400, "bad_metadata"},
		{"sha256 upper case", tok, meta("kind", "segment", "id", id, "sha256", strings.ToUpper(sum(good))), len(good), 400, "bad_metadata"},
		{"metadata not base64", tok, "kind !!!,id x", len(good), 400, "bad_metadata"},
	}
	for _, tc := range creations {
		t.Run("create/"+tc.name, func(t *testing.T) {
			_, r := e.create(t, tc.token, tc.meta, tc.length)
			if r.code != tc.code || (tc.err != "" && r.Err != tc.err && !strings.Contains(r.Msg, tc.err)) {
				t.Fatalf("got %d %q %q, want %d %q", r.code, r.Err, r.Msg, tc.code, tc.err)
			}
		})
	}
	deferred := do(t, "POST", e.srv.URL+ingest.BasePath, tok, map[string]string{"Upload-Defer-Length": "1", "Upload-Metadata": meta("kind", "segment", "id", id, "sha256", sum(good))}, nil)
	if deferred.code != http.StatusNotImplemented { // tusd: creation-defer-length not offered
		t.Errorf("deferred length: %d %s", deferred.code, deferred.Msg)
	}

	// Whole uploads refused when the last byte arrives.
	finishes := []struct {
		name, kind, id, sha string
		body                []byte
		code                int
		err                 string
	}{
		{"bad hash", "segment", id, sum(append([]byte("x"), good...)), good, 460, "hash_mismatch"},
		{"clip missing", "segment", id, sum(missingClip), missingClip, 400, "invalid_upload"},
		{"not a tar", "segment", id, sum([]byte("hello world")), []byte("hello world"), 400, "invalid_upload"},
		{"id differs from metadata", "segment", id, sum(otherID), otherID, 400, "id_mismatch"},
		{"bad session", "session", "s1", sum(badSession), badSession, 400, "invalid_upload"},
	}
	for _, tc := range finishes {
		t.Run("finish/"+tc.name, func(t *testing.T) {
			r := e.upload(t, tok, tc.kind, tc.id, tc.sha, tc.body)
			if r.code != tc.code || r.Err != tc.err || r.Msg == "" {
				t.Fatalf("got %d %q %q, want %d %q", r.code, r.Err, r.Msg, tc.code, tc.err)
			}
		})
	}

	// Another box's token cannot touch this box's upload; this box's own
	// token cannot read or delete it either.
	loc, r := e.create(t, tok, meta("kind", "segment", "id", id, "sha256", sum(good)), len(good))
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.Msg)
	}
	access := []struct {
		name, method, token string
		body                []byte
		code                int
	}{
		{"other box HEAD", "HEAD", otherTok, nil, 403},
		{"other box PATCH", "PATCH", otherTok, good, 403},
		{"own GET", "GET", tok, nil, 0},
		{"own DELETE", "DELETE", tok, nil, 0},
		{"invented upload id", "HEAD", tok, nil, 404},
	}
	for _, tc := range access {
		t.Run("access/"+tc.name, func(t *testing.T) {
			url := loc
			if tc.name == "invented upload id" {
				url = e.srv.URL + ingest.BasePath + "..%2f..%2freview.db"
			}
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			r := do(t, tc.method, url, tc.token, map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, body)
			if (tc.code != 0 && r.code != tc.code) || (tc.code == 0 && r.code < 400) {
				t.Fatalf("%s: %d %s %s", tc.name, r.code, r.Err, r.Msg)
			}
		})
	}
	if h := do(t, "HEAD", loc, tok, nil, nil); h.code != 200 || h.header.Get("Upload-Offset") != "0" {
		t.Fatalf("own upload after the refusals: %d offset %q", h.code, h.header.Get("Upload-Offset"))
	}

	// Nothing of any refused upload was kept.
	if segs, _ := e.st.Segments(context.Background(), boxID); len(segs) != 0 {
		t.Fatalf("stored: %+v", segs)
	}
	if _, err := e.st.Session(context.Background(), boxID, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session stored: %v", err)
	}
	if b := e.blobs(t); len(b) != 0 {
		t.Fatalf("blobs left: %v", b)
	}
	if left := e.uploadsLeft(t); len(left) != 2 { // the one open upload: data and .info
		t.Fatalf("uploads on disk: %v, want only the open one", left)
	}
}

func TestUploadSession(t *testing.T) {
	e := newEnv(t, opts{})
	boxID, tok := e.box(t)
	rec := []byte(`{"version":1,"id":"s-1","device":"box-1","start":"2026-11-28T09:00:00Z","end":"2026-11-28T10:00:00Z","segments":["20261128T093000000Z-0a1b2c3d"]}`)
	if r := e.upload(t, tok, "session", "s-1", sum(rec), rec); r.code != 204 || r.header.Get("Cunbo-Stored") != "created" {
		t.Fatalf("session: %d %s %s", r.code, r.Err, r.Msg)
	}
	if r := e.upload(t, tok, "session", "s-1", sum(rec), rec); r.code != 204 || r.header.Get("Cunbo-Stored") != "existing" {
		t.Fatalf("session again: %d %s %s", r.code, r.Err, r.Msg)
	}
	rec2 := bytes.Replace(rec, []byte("10:00"), []byte("11:00"), 1)
	if r := e.upload(t, tok, "session", "s-1", sum(rec2), rec2); r.code != 409 || r.Err != "conflict" {
		t.Fatalf("session other content: %d %s %s", r.code, r.Err, r.Msg)
	}
	if r := e.upload(t, tok, "session", "s-2", sum(rec), rec); r.code != 400 || r.Err != "id_mismatch" {
		t.Fatalf("session id mismatch: %d %s %s", r.code, r.Err, r.Msg)
	}
	got, err := e.st.Session(context.Background(), boxID, "s-1")
	if err != nil || !bytes.Equal(got.Record, rec) {
		t.Fatalf("stored session: %q %v", got.Record, err)
	}
}

// TestBlobDiskFull: the blob disk (a real, tiny tmpfs) fills while a
// segment is stored: 503, no row, no half blob; once there is room the
// same upload succeeds.
func TestBlobDiskFull(t *testing.T) {
	dir := tmpfstest.Mount(t, "size=64k")
	e := newEnv(t, opts{blobDir: filepath.Join(dir, "blobs")})
	boxID, tok := e.box(t)
	clip := wiretest.Clip(t)
	id := wiretest.ID(6)
	body := wiretest.SegmentTar(t, id, clip)
	filler := filepath.Join(dir, "filler")
	// Leave room for segment.json but not the clip.
	if err := os.WriteFile(filler, make([]byte, 64<<10-8<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if len(clip) < 12<<10 {
		t.Fatalf("clip only %d bytes: too small to fill the disk", len(clip))
	}
	r := e.upload(t, tok, "segment", id, sum(body), body)
	if r.code != http.StatusServiceUnavailable || r.Err != "unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("upload onto a full disk: %d %s %s", r.code, r.Err, r.Msg)
	}
	if _, err := e.st.Segment(context.Background(), boxID, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("row stored without its blobs: %v", err)
	}
	if b := e.blobs(t); len(b) != 0 {
		t.Fatalf("blobs left on a full disk: %v", b)
	}
	os.Remove(filler)
	// tmpfs is only 64k; the clip must fit now.
	if len(clip) > 56<<10 {
		t.Fatalf("clip %d bytes does not fit the test disk", len(clip))
	}
	if r := e.upload(t, tok, "segment", id, sum(body), body); r.code != http.StatusNoContent || r.header.Get("Cunbo-Stored") != "created" {
		t.Fatalf("upload after room was made: %d %s %s", r.code, r.Err, r.Msg)
	}
}

// TestDatabaseDown: PostgreSQL stops under a signed-in box: every request
// is 503 (retry, not sign in again), nothing is acknowledged; after a
// restart the same upload goes through.
func TestDatabaseDown(t *testing.T) {
	pg := pgtest.Start(t)
	st, err := store.OpenPostgres(context.Background(), pg.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnv(t, opts{st: st})
	boxID, tok := e.box(t)
	id := wiretest.ID(7)
	body := wiretest.SegmentTar(t, id, wiretest.Clip(t))
	loc, r := e.create(t, tok, meta("kind", "segment", "id", id, "sha256", sum(body)), len(body))
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.Msg)
	}
	pg.Stop(t)
	if r := patch(t, loc, tok, 0, body); r.code != http.StatusServiceUnavailable || r.Err != "unavailable" {
		t.Fatalf("PATCH with the database down: %d %s %s", r.code, r.Err, r.Msg)
	}
	if _, r := e.create(t, tok, meta("kind", "segment", "id", id, "sha256", sum(body)), len(body)); r.code != http.StatusServiceUnavailable {
		t.Fatalf("create with the database down: %d %s %s", r.code, r.Err, r.Msg)
	}
	pg.Restart(t)
	// The pool's broken connections are found and replaced; allow a few
	// tries as a box's retry loop would.
	var final result
	for range 5 {
		if final = patch(t, loc, tok, 0, body); final.code != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if final.code != http.StatusNoContent || final.header.Get("Cunbo-Stored") != "created" {
		t.Fatalf("after restart: %d %s %s", final.code, final.Err, final.Msg)
	}
	if row, err := st.Segment(context.Background(), boxID, id); err != nil || row.SHA256 != sum(body) {
		t.Fatalf("after restart: %+v %v", row, err)
	}
}

// TestUploadDiskFull: the disk holding uploads in progress (a real, tiny
// tmpfs) fills during a PATCH: 503 (retry), not 500; once there is room the
// box resumes from the offset HEAD reports and the segment arrives whole.
func TestUploadDiskFull(t *testing.T) {
	dir := tmpfstest.Mount(t, "size=64k")
	e := newEnv(t, opts{uploadDir: filepath.Join(dir, "uploads")})
	boxID, tok := e.box(t)
	clip := wiretest.Clip(t)
	id := wiretest.ID(8)
	body := wiretest.SegmentTar(t, id, clip)
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 64<<10-12<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	loc, r := e.create(t, tok, meta("kind", "segment", "id", id, "sha256", sum(body)), len(body))
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s %s", r.code, r.Err, r.Msg)
	}
	r = patch(t, loc, tok, 0, body)
	if r.code != http.StatusServiceUnavailable || r.Err != "unavailable" {
		t.Fatalf("PATCH onto a full disk: %d %s %s", r.code, r.Err, r.Msg)
	}
	if _, err := e.st.Segment(context.Background(), boxID, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stored from a failed PATCH: %v", err)
	}
	os.Remove(filler)
	h := do(t, "HEAD", loc, tok, nil, nil)
	off, err := strconv.Atoi(h.header.Get("Upload-Offset"))
	if h.code != http.StatusOK || err != nil || off >= len(body) {
		t.Fatalf("HEAD after the full disk: %d offset %q", h.code, h.header.Get("Upload-Offset"))
	}
	if r := patch(t, loc, tok, off, body[off:]); r.code != http.StatusNoContent || r.header.Get("Cunbo-Stored") != "created" {
		t.Fatalf("resumed PATCH from %d: %d %s %s", off, r.code, r.Err, r.Msg)
	}
	if row, err := e.st.Segment(context.Background(), boxID, id); err != nil || row.SHA256 != sum(body) {
		t.Fatalf("segment after resume: %+v %v", row, err)
	}
}

// otherToken is a well-formed token that differs from tok.
func otherToken(tok string) string {
	if tok[0] == 'x' {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}

// TestSweep: an upload a box abandoned (nothing written for a week) is
// removed; one still being written is kept and can be finished.
func TestSweep(t *testing.T) {
	e := newEnv(t, opts{})
	_, tok := e.box(t)
	body := wiretest.SegmentTar(t, wiretest.ID(9), nil)
	md := meta("kind", "segment", "id", wiretest.ID(9), "sha256", sum(body))
	old, _ := e.create(t, tok, md, len(body))
	if r := patch(t, old, tok, 0, body[:100]); r.code != http.StatusNoContent {
		t.Fatalf("PATCH: %d", r.code)
	}
	fresh, _ := e.create(t, tok, md, len(body))
	oldID := old[strings.LastIndex(old, "/")+1:]
	long := time.Now().Add(-8 * 24 * time.Hour)
	for _, f := range []string{oldID, oldID + ".info"} {
		if err := os.Chtimes(filepath.Join(e.uploadDir, f), long, long); err != nil {
			t.Fatal(err)
		}
	}
	n, err := e.h.Sweep(context.Background(), ingest.DefaultAbandonAfter)
	if err != nil || n != 1 {
		t.Fatalf("Sweep: %d %v, want 1 removed", n, err)
	}
	if h := do(t, "HEAD", old, tok, nil, nil); h.code != http.StatusNotFound {
		t.Fatalf("abandoned upload: HEAD %d, want 404", h.code)
	}
	if r := patch(t, fresh, tok, 0, body); r.code != http.StatusNoContent {
		t.Fatalf("fresh upload after the sweep: %d %s %s", r.code, r.Err, r.Msg)
	}
	if left := e.uploadsLeft(t); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
}

// TestRemoveBoxUploads: forgetting a box removes its half-sent uploads and
// leaves another box's.
func TestRemoveBoxUploads(t *testing.T) {
	e := newEnv(t, opts{})
	herID, her := e.box(t)
	_, other := e.box(t)
	body := wiretest.SegmentTar(t, wiretest.ID(5), nil)
	md := meta("kind", "segment", "id", wiretest.ID(5), "sha256", sum(body))
	hers, _ := e.create(t, her, md, len(body))
	if r := patch(t, hers, her, 0, body[:100]); r.code != http.StatusNoContent {
		t.Fatalf("PATCH: %d", r.code)
	}
	theirs, _ := e.create(t, other, md, len(body))
	n, err := ingest.RemoveBoxUploads(context.Background(), e.uploadDir, herID)
	if err != nil || n != 1 {
		t.Fatalf("RemoveBoxUploads: %d %v, want 1", n, err)
	}
	if h := do(t, "HEAD", hers, her, nil, nil); h.code != http.StatusNotFound {
		t.Fatalf("her upload: HEAD %d, want 404", h.code)
	}
	if r := patch(t, theirs, other, 0, body); r.code != http.StatusNoContent {
		t.Fatalf("other box's upload: %d %s %s", r.code, r.Err, r.Msg)
	}
	if n, err := ingest.RemoveBoxUploads(context.Background(), filepath.Join(t.TempDir(), "none"), herID); err != nil || n != 0 {
		t.Fatalf("no upload directory: %d %v", n, err)
	}
}
