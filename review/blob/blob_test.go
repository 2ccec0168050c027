package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/internal/tmpfstest"
	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/s3test"
)

func backends(t *testing.T) map[string]func(t *testing.T) blob.Store {
	return map[string]func(t *testing.T) blob.Store{
		"files": func(t *testing.T) blob.Store {
			s, err := blob.OpenURL(context.Background(), "", t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) blob.Store {
			srv := s3test.Start(t, "clips")
			s, err := blob.OpenURL(context.Background(), srv.Spec("clips"), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

// failingReader gives n bytes, then fails: a connection that drops.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func read(t *testing.T, s blob.Store, key string) ([]byte, error) {
	t.Helper()
	r, err := s.Open(context.Background(), key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestContract(t *testing.T) {
	big := make([]byte, 3<<20)
	rand.Read(big)
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s blob.Store)
	}{
		{"put open", func(t *testing.T, s blob.Store) {
			if err := s.Put(ctx, "segments/aa/s1/clip.mp4", bytes.NewReader(big), int64(len(big))); err != nil {
				t.Fatal(err)
			}
			got, err := read(t, s, "segments/aa/s1/clip.mp4")
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("read back %d bytes, %v", len(got), err)
			}
		}},
		{"not seekable", func(t *testing.T, s blob.Store) {
			if err := s.Put(ctx, "k", io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")), 4); err != nil {
				t.Fatal(err)
			}
			if got, err := read(t, s, "k"); string(got) != "abcd" || err != nil {
				t.Fatalf("%q %v", got, err)
			}
		}},
		{"replace", func(t *testing.T, s blob.Store) {
			s.Put(ctx, "k", strings.NewReader("old"), 3)
			if err := s.Put(ctx, "k", strings.NewReader("new!"), 4); err != nil {
				t.Fatal(err)
			}
			if got, _ := read(t, s, "k"); string(got) != "new!" {
				t.Fatalf("%q", got)
			}
		}},
		{"missing", func(t *testing.T, s blob.Store) {
			if _, err := s.Open(ctx, "nope/x"); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("open missing: %v", err)
			}
		}},
		{"delete", func(t *testing.T, s blob.Store) {
			s.Put(ctx, "k", strings.NewReader("x"), 1)
			if err := s.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Open(ctx, "k"); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("after delete: %v", err)
			}
			if err := s.Delete(ctx, "k"); err != nil {
				t.Fatalf("delete twice: %v", err)
			}
		}},
		{"body fails midway", func(t *testing.T, s blob.Store) {
			s.Put(ctx, "k", strings.NewReader("old"), 3)
			if err := s.Put(ctx, "k", &failingReader{n: 1 << 20}, 2<<20); err == nil {
				t.Fatal("put of a failing body succeeded")
			}
			if got, err := read(t, s, "k"); string(got) != "old" || err != nil {
				t.Fatalf("after a failed put: %q %v, want the old blob whole", got, err)
			}
			if err := s.Put(ctx, "k2", &failingReader{n: 10}, 20); err == nil {
				t.Fatal("put of a failing body succeeded")
			}
			if _, err := s.Open(ctx, "k2"); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("a failed put left something: %v", err)
			}
		}},
		{"wrong size", func(t *testing.T, s blob.Store) {
			for _, tc := range []struct {
				body string
				size int64
			}{{"abc", 4}, {"abcde", 4}} {
				if err := s.Put(ctx, "k", strings.NewReader(tc.body), tc.size); err == nil {
					t.Fatalf("%q as %d bytes stored", tc.body, tc.size)
				}
			}
			if _, err := s.Open(ctx, "k"); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("a refused put left something: %v", err)
			}
		}},
		{"bad keys", func(t *testing.T, s blob.Store) {
			for _, k := range []string{"", "../x", "a/../../x", "/abs", "a//b", ".tmp-x", "a/.hidden", "a\\b", "a b"} {
				if err := s.Put(ctx, k, strings.NewReader("x"), 1); err == nil {
					t.Errorf("key %q accepted", k)
				}
				if _, err := s.Open(ctx, k); err == nil || errors.Is(err, blob.ErrNotFound) {
					t.Errorf("open %q: %v, want a bad key error", k, err)
				}
			}
		}},
		{"list", func(t *testing.T, s blob.Store) {
			before := time.Now().Add(-time.Minute)
			keys := []string{"provision/drafts/b.zip", "provision/drafts/a.zip", "provision/bundles/x.cunbo",
				"provision/drafts.zip", "provision/drafts/sub/c.zip", "segments/aa/s1/clip.mp4"}
			for i, k := range keys {
				if err := s.Put(ctx, k, strings.NewReader(strings.Repeat("x", i+1)), int64(i+1)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Delete(ctx, "provision/drafts/b.zip"); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				prefix string
				want   []string
			}{
				{"provision/drafts/", []string{"provision/drafts/a.zip", "provision/drafts/sub/c.zip"}},
				{"provision/drafts", []string{"provision/drafts.zip", "provision/drafts/a.zip", "provision/drafts/sub/c.zip"}},
				{"provision/", []string{"provision/bundles/x.cunbo", "provision/drafts.zip", "provision/drafts/a.zip", "provision/drafts/sub/c.zip"}},
				{"", []string{"provision/bundles/x.cunbo", "provision/drafts.zip", "provision/drafts/a.zip", "provision/drafts/sub/c.zip", "segments/aa/s1/clip.mp4"}},
				{"nothing/here/", nil},
				{"segments/aa/s1/clip.mp4", []string{"segments/aa/s1/clip.mp4"}},
			} {
				got, err := s.List(ctx, tc.prefix)
				if err != nil {
					t.Fatalf("list %q: %v", tc.prefix, err)
				}
				var names []string
				for _, in := range got {
					names = append(names, in.Key)
					i := slices.Index(keys, in.Key)
					if in.Size != int64(i+1) || in.Modified.Before(before) || in.Modified.After(time.Now().Add(time.Minute)) {
						t.Errorf("list %q: %+v, want size %d put just now", tc.prefix, in, i+1)
					}
				}
				if !slices.Equal(names, tc.want) {
					t.Errorf("list %q = %q, want %q", tc.prefix, names, tc.want)
				}
			}
			for _, bad := range []string{"../", "/abs", "a//", ".tmp-", "a b/"} {
				if _, err := s.List(ctx, bad); err == nil {
					t.Errorf("list %q: no error for a bad prefix", bad)
				}
			}
		}},
		{"ping", func(t *testing.T, s blob.Store) {
			if err := s.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
			}
		})
	}
}

// TestFilesFullDisk fills a real small filesystem: the put fails with the
// kernel's ENOSPC, nothing half-written stays (not even a temp file), the
// blob already there is whole, and Ping reports the disk unusable.
func TestFilesFullDisk(t *testing.T) {
	dir := tmpfstest.Mount(t, "size=2m")
	s, err := blob.NewFiles(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "a/old", strings.NewReader("old"), 3); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 4<<20)
	if err := s.Put(ctx, "a/big", bytes.NewReader(big), int64(len(big))); err == nil || !strings.Contains(err.Error(), "no space") {
		t.Fatalf("put on a full disk: %v, want ENOSPC", err)
	}
	if _, err := s.Open(ctx, "a/big"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("half-written blob visible: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "blobs", "a"))
	if len(ents) != 1 || ents[0].Name() != "old" {
		t.Fatalf("left behind: %v", ents)
	}
	// Fill the disk to the last byte, then ask whether it is usable.
	f, _ := os.Create(filepath.Join(dir, "filler"))
	f.Write(make([]byte, 4<<20))
	f.Close()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping on a full disk succeeded")
	}
	if got, err := read(t, s, "a/old"); string(got) != "old" || err != nil {
		t.Fatalf("old blob: %q %v", got, err)
	}
}

func TestS3Unreachable(t *testing.T) {
	srv := s3test.Start(t, "clips")
	s, err := blob.OpenURL(context.Background(), srv.Spec("clips"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20e9)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping of a stopped server succeeded")
	}
	if err := s.Put(ctx, "k", strings.NewReader("x"), 1); err == nil {
		t.Fatal("Put to a stopped server succeeded")
	}
}

func TestOpenURL(t *testing.T) {
	s3test.Start(t, "b") // sets credentials
	for _, spec := range []string{"ftp://x", "s3://", "s3:///x", ":bad"} {
		if _, err := blob.OpenURL(context.Background(), spec, t.TempDir()); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := blob.OpenURL(context.Background(), "s3://b", t.TempDir()); err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("s3 without credentials: %v", err)
	}
}

// TestFilesDeleteLeavesNoNames: the directories named after a box and its
// segments go with their last blob; a sibling keeps its own.
func TestFilesDeleteLeavesNoNames(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f, err := blob.NewFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"segments/box1/s1/h/clip.mp4", "segments/box1/s1/h/segment.json", "segments/box1/s2/h/segment.json"} {
		if err := f.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"segments/box1/s1/h/clip.mp4", "segments/box1/s1/h/segment.json"} {
		if err := f.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "segments/box1/s1")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("segment directory after its last blob went: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "segments/box1/s2/h/segment.json")); err != nil {
		t.Fatalf("sibling: %v", err)
	}
	if err := f.Delete(ctx, "segments/box1/s2/h/segment.json"); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(root); err != nil || len(ents) != 0 {
		t.Fatalf("root after every blob went: %v %v", ents, err)
	}
}

// A file being written (a Put in progress, or one a crash left) is no
// blob: List leaves it out, as Open cannot open it.
func TestFilesListSkipsWritesInProgress(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.NewFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "provision/drafts/a.zip", strings.NewReader("zip"), 3); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "provision", "drafts", ".tmp-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx, "provision/drafts/")
	if err != nil || len(got) != 1 || got[0].Key != "provision/drafts/a.zip" {
		t.Fatalf("list = %+v, %v; want only provision/drafts/a.zip", got, err)
	}
}
