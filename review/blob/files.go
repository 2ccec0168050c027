package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Files keeps blobs as files under a root directory.
type Files struct {
	root string
}

// NewFiles returns a Files rooted at root, creating it.
func NewFiles(root string) (*Files, error) {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &Files{root: filepath.Clean(root)}, nil
}

func (f *Files) path(key string) string { return filepath.Join(f.root, filepath.FromSlash(key)) }

// tmpPrefix marks files being written; they are never a key (keys do not
// start with a dot).
const tmpPrefix = ".tmp-"

// Put writes a temp file beside the target, fsyncs it, renames it into
// place and fsyncs the directory, so a power cut leaves the old blob or the
// new one.
func (f *Files) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	if err := checkKey(key); err != nil {
		return err
	}
	dst := f.path(key)
	dir := filepath.Dir(dst)
	var tmp *os.File
	// A Delete emptying this directory at the same moment may remove it
	// between MkdirAll and CreateTemp; once more is then enough.
	for try := 0; ; try++ {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("blob: put %s: %w", key, err)
		}
		tmp, err = os.CreateTemp(dir, tmpPrefix+"*")
		if err == nil {
			break
		}
		if try > 0 || !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob: put %s: %w", key, err)
		}
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	cr := &countReader{r: io.LimitReader(r, size+1)}
	if _, err := io.Copy(tmp, ctxReader{ctx, cr}); err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	if cr.n != size {
		return fmt.Errorf("blob: put %s: %d bytes, want %d", key, cr.n, size)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Open opens a blob for reading.
func (f *Files) Open(_ context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	r, err := os.Open(f.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob: %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return r, nil
}

// Delete removes a blob, and the directories it leaves empty: their names
// (box and segment ids) are the owner's data too, and must go with a
// deletion on her request.
func (f *Files) Delete(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	p := f.path(key)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	// Removing a directory fails while it holds anything, so a blob
	// written beside this one at the same time keeps its directory.
	for dir := filepath.Dir(p); dir != f.root && strings.HasPrefix(dir, f.root+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if err := os.Remove(dir); err != nil {
			break
		}
	}
	return nil
}

// List walks the folder the prefix names. Files being written (and
// anything else not a key) are left out.
func (f *Files) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	// The deepest folder every match is under: "a/b/c" is under a/b.
	start := f.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = f.path(prefix[:i])
	}
	var out []Info
	err := filepath.WalkDir(start, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !de.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(f.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) || !ValidKey(key) {
			return nil
		}
		fi, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while listed
		}
		if err != nil {
			return err
		}
		out = append(out, Info{Key: key, Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blob: list %s: %w", prefix, err)
	}
	// WalkDir goes in lexical order of names, which is not the keys'
	// order ("a/b" before "a.b" on disk, after it as a key).
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Ping writes and removes a small file: a full or read-only disk fails it.
func (f *Files) Ping(context.Context) error {
	tmp, err := os.CreateTemp(f.root, tmpPrefix+"ping-*")
	if err != nil {
		return fmt.Errorf("blob: ping: %w", err)
	}
	_, werr := tmp.WriteString(strings.Repeat("x", 512))
	serr := tmp.Sync()
	tmp.Close()
	os.Remove(tmp.Name())
	if err := errors.Join(werr, serr); err != nil {
		return fmt.Errorf("blob: ping: %w", err)
	}
	return nil
}

// ctxReader stops a long copy when the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
