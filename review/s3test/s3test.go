// Package s3test serves a real S3-protocol server over HTTP for tests
// (gofakes3 with its in-memory backend): the blob store's S3 client talks
// to it through the same signed HTTP requests it sends to a real bucket.
package s3test

import (
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is a running S3-protocol server.
type Server struct {
	URL string // http://127.0.0.1:port
	srv *httptest.Server
}

// Start serves an S3 endpoint holding one empty bucket and sets the
// credentials environment the blob store reads. Stopped in cleanup.
func Start(t testing.TB, bucket string) *Server {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket(bucket); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	return &Server{URL: srv.URL, srv: srv}
}

// Spec is the --blobs value naming bucket on this server.
func (s *Server) Spec(bucket string) string {
	return "s3://" + bucket + "?endpoint=" + url.QueryEscape(s.URL)
}

// Close stops the server early (to test an unreachable bucket).
func (s *Server) Close() { s.srv.Close() }
