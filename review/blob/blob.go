// Package blob keeps the review service's large objects (segment.json and
// clip.mp4 of each segment) in files under the data directory or in an S3
// bucket. A Put is atomic in both: a blob is either absent or whole, never
// half-written, so a crash or a full disk loses nothing acknowledged.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ErrNotFound: no blob under that key.
var ErrNotFound = errors.New("blob: not found")

// Store is a blob backend.
type Store interface {
	// Put stores exactly size bytes read from r under key, replacing any
	// blob there. On error nothing new is visible under key.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Open reads a blob; ErrNotFound when absent.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes a blob; deleting an absent blob is not an error.
	Delete(ctx context.Context, key string) error
	// Ping reports whether the backend can be written to.
	Ping(ctx context.Context) error
	// List returns the blobs whose keys start with prefix ("" for all),
	// sorted by key. For sweeps of small families of blobs (setup bundle
	// drafts), not for the segments, which the database lists.
	List(ctx context.Context, prefix string) ([]Info, error)
}

// Info is a listed blob.
type Info struct {
	Key  string
	Size int64
	// Modified is when the blob was last put, by the backend's clock.
	Modified time.Time
}

// checkPrefix accepts "" and the beginnings of valid keys.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	// A prefix may end anywhere in a key: "a/" or "a/b" both begin one.
	if t := strings.TrimSuffix(prefix, "/"); ValidKey(t) {
		return nil
	}
	return fmt.Errorf("blob: bad prefix %q", prefix)
}

// keyRe keeps keys to relative slash-separated names of safe characters, so
// a key can never name a file outside the blob root.
var keyRe = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$`)

// ValidKey reports whether key is usable in every backend.
func ValidKey(key string) bool { return len(key) <= 512 && keyRe.MatchString(key) }

func checkKey(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("blob: bad key %q", key)
	}
	return nil
}

// Open opens the backend a --blobs value names: empty for files under
// dataDir/blobs, or s3://bucket?endpoint=URL&region=R (credentials from
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
func OpenURL(ctx context.Context, spec, dataDir string) (Store, error) {
	if spec == "" {
		return NewFiles(dataDir + "/blobs")
	}
	u, err := url.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("blob: --blobs %q: %w", spec, err)
	}
	switch u.Scheme {
	case "file":
		return NewFiles(u.Path)
	case "s3":
		return NewS3(ctx, u, dataDir)
	}
	return nil, fmt.Errorf("blob: --blobs %q: want file:///dir or s3://bucket", spec)
}

// countReader counts what passes through, to check a blob's size.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
