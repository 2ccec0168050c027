package overlay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// errNotRegular is returned for a FIFO, device or socket where a file was
// expected.
var errNotRegular = errors.New("不是普通文件 (not a regular file)")

// openRegular opens a regular file for reading without ever blocking: a
// FIFO left in the catalogue's folder would otherwise hang open(2), and with
// it the box's start-up. Directories open too (to list them).
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: errNotRegular}
	}
	return f, nil
}

// regularDir is a folder on disk, opened with openRegular.
type regularDir string

func (d regularDir) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := openRegular(filepath.Join(string(d), filepath.FromSlash(name)))
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	return f, nil
}
