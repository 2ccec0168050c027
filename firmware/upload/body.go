package upload

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/segment"
)

// body is what one upload sends: a segment tar or a session record. It
// can be read again from any offset and gives the same bytes every time,
// so an upload interrupted by a reboot resumes where the server stopped.
type body struct {
	size int64
	sum  string // hex SHA-256 of the whole body
	open func() (io.ReadCloser, error)
}

// reader returns the body from off on. Skipping to off reads the bytes
// before it again (the tar is built as it streams), stopping when ctx ends.
func (b *body) reader(ctx context.Context, off int64) (io.ReadCloser, error) {
	r, err := b.open()
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, ctxReader{ctx, r}, off); err != nil {
		r.Close()
		return nil, fmt.Errorf("upload: skip to %d: %w", off, err)
	}
	return r, nil
}

func bytesBody(data []byte) *body {
	sum := sha256.Sum256(data)
	return &body{size: int64(len(data)), sum: hex.EncodeToString(sum[:]),
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

// tarEpoch is every entry's mtime: a fixed time keeps the tar, and so its
// hash, the same however often the queue rebuilds it.
var tarEpoch = time.Unix(0, 0).UTC()

// segmentBody builds the tar of a segment directory: segment.json first,
// then clip.mp4 when segment.json describes one. segment.json is read once
// here, so a change to it on disk (the status set after the upload) never
// makes two reads of one upload differ.
func segmentBody(ctx context.Context, dir string) (*body, *flagged.Segment, error) {
	js, err := os.ReadFile(filepath.Join(dir, flagged.JSONFile))
	if err != nil {
		return nil, nil, fmt.Errorf("upload: %w", err)
	}
	seg, err := segment.Parse(js)
	if err != nil {
		return nil, nil, fmt.Errorf("upload: %w", err)
	}
	clip := ""
	var clipSize int64
	if seg.Clip != nil {
		clip = filepath.Join(dir, flagged.ClipFile)
		fi, err := os.Stat(clip)
		if err != nil {
			return nil, nil, fmt.Errorf("upload: %w", err)
		}
		if fi.Size() != seg.Clip.Bytes {
			return nil, nil, fmt.Errorf("upload: %s is %d bytes, segment.json says %d", clip, fi.Size(), seg.Clip.Bytes)
		}
		clipSize = fi.Size()
	}
	open := func() (io.ReadCloser, error) {
		var f *os.File
		if clip != "" {
			var err error
			if f, err = os.Open(clip); err != nil {
				return nil, fmt.Errorf("upload: %w", err)
			}
		}
		var clipR io.Reader // a nil *os.File would be a non-nil Reader
		if f != nil {
			clipR = f
		}
		pr, pw := io.Pipe()
		go func() {
			err := writeTar(pw, js, clipR, clipSize)
			if f != nil {
				f.Close()
			}
			pw.CloseWithError(err)
		}()
		return pr, nil
	}
	b := &body{open: open}
	// One pass to learn the size and hash; the clip is read from the SD
	// card, never held in memory.
	r, err := open()
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	h := sha256.New()
	if b.size, err = io.Copy(h, ctxReader{ctx, r}); err != nil {
		return nil, nil, fmt.Errorf("upload: segment %s: %w", seg.ID, err)
	}
	b.sum = hex.EncodeToString(h.Sum(nil))
	return b, seg, nil
}

// ctxReader stops a long read (hashing a clip) once ctx ends: going live
// must not wait for a pass over a large clip on the SD card.
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

func writeTar(w io.Writer, js []byte, clip io.Reader, clipSize int64) error {
	tw := tar.NewWriter(w)
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644,
			ModTime: tarEpoch, Format: tar.FormatUSTAR}
	}
	if err := tw.WriteHeader(hdr(flagged.JSONFile, int64(len(js)))); err != nil {
		return err
	}
	if _, err := tw.Write(js); err != nil {
		return err
	}
	if clip != nil {
		if err := tw.WriteHeader(hdr(flagged.ClipFile, clipSize)); err != nil {
			return err
		}
		// A clip that grew or shrank since it was measured fails here
		// rather than sending a tar whose hash was never announced.
		if n, err := io.Copy(tw, io.LimitReader(clip, clipSize+1)); err != nil {
			return err
		} else if n != clipSize {
			return fmt.Errorf("upload: clip is %d bytes, was %d", n, clipSize)
		}
	}
	return tw.Close()
}
