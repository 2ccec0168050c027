package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/pgtest"
	"github.com/cunbo/cunbo/review/s3test"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/wiretest"
)

func tusReq(t *testing.T, method, url, tok string, hdr map[string]string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+tok)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestTwoServersOneUpload: two servers on one PostgreSQL and one bucket
// (nothing on their own disks in common). An upload begun on one is
// finished on the other, whole and stored once; a PATCH to both at once is
// serialised, the second answered 423 Locked.
func TestTwoServersOneUpload(t *testing.T) {
	pg := pgtest.Start(t)
	s3 := s3test.Start(t, "clips")
	db := pgURL(pg.NewDB(t))
	var bases []string
	var srvs []*server.Server
	for range 2 {
		srv, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), DB: db, Blobs: s3.Spec("clips"),
			Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		bases, srvs = append(bases, hs.URL), append(srvs, srv)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	boxID, err := boxauth.Enroll(context.Background(), srvs[0].Store(), pub, "box", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok := benchSignIn(t, http.DefaultClient, bases[0], boxID, priv)
	clip := wiretest.Clip(t)

	create := func(base, id string, body []byte) string {
		t.Helper()
		sum := sha256.Sum256(body)
		b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
		resp := tusReq(t, "POST", base+"/api/uploads/", tok, map[string]string{"Upload-Length": strconv.Itoa(len(body)),
			"Upload-Metadata": "kind " + b64("segment") + ",id " + b64(id) + ",sha256 " + b64(hex.EncodeToString(sum[:]))}, nil)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d", resp.StatusCode)
		}
		return resp.Header.Get("Location")
	}
	patch := func(url string, off int, body io.Reader) *http.Response {
		t.Helper()
		return tusReq(t, "PATCH", url, tok, map[string]string{"Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream"}, body)
	}
	on := func(base, loc string) string { return base + loc[strings.Index(loc, "/api/uploads/"):] }

	// Begun on A, finished on B.
	id := wiretest.ID(1)
	body := wiretest.SegmentTar(t, id, clip)
	loc := create(bases[0], id, body)
	half := len(body) / 2
	if r := patch(on(bases[0], loc), 0, bytes.NewReader(body[:half])); r.StatusCode != http.StatusNoContent {
		t.Fatalf("first half on A: %d", r.StatusCode)
	}
	h := tusReq(t, "HEAD", on(bases[1], loc), tok, nil, nil)
	if h.StatusCode != http.StatusOK || h.Header.Get("Upload-Offset") != strconv.Itoa(half) {
		t.Fatalf("HEAD on B: %d offset %q, want %d", h.StatusCode, h.Header.Get("Upload-Offset"), half)
	}
	r := patch(on(bases[1], loc), half, bytes.NewReader(body[half:]))
	if r.StatusCode != http.StatusNoContent || r.Header.Get("Cunbo-Stored") != "created" {
		t.Fatalf("second half on B: %d %q", r.StatusCode, r.Header.Get("Cunbo-Stored"))
	}
	segs, err := srvs[1].Store().Segments(context.Background(), boxID)
	if err != nil || len(segs) != 1 || segs[0].Size != int64(len(body)) {
		t.Fatalf("stored: %+v %v", segs, err)
	}
	sum := sha256.Sum256(body)
	if segs[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatal("stored hash differs")
	}

	// A PATCH to each at once: A's is held open mid-body, B's waits for
	// the lock and is told 423.
	id = wiretest.ID(2)
	body = wiretest.SegmentTar(t, id, clip)
	loc = create(bases[0], id, body)
	pr, pw := io.Pipe()
	aDone := make(chan *http.Response, 1)
	go func() { aDone <- patch(on(bases[0], loc), 0, pr) }()
	if _, err := pw.Write(body[:100]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // A holds the lock, reading
	rb := patch(on(bases[1], loc), 0, bytes.NewReader(body))
	if rb.StatusCode != http.StatusLocked && rb.StatusCode != http.StatusConflict {
		t.Fatalf("PATCH on B while A writes: %d, want 423 (or 409)", rb.StatusCode)
	}
	pw.Write(body[100:])
	pw.Close()
	ra := <-aDone
	if ra.StatusCode != http.StatusNoContent || ra.Header.Get("Cunbo-Stored") != "created" {
		t.Fatalf("A's PATCH: %d %q", ra.StatusCode, ra.Header.Get("Cunbo-Stored"))
	}
	audit, _ := srvs[0].Store().Audit(context.Background(), 100)
	n := 0
	for _, e := range audit {
		if e.Action == "segment.received" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d segments received, want 2 (each once)", n)
	}
}
