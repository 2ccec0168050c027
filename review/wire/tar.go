package wire

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ClipFunc receives clip.mp4's body and size; it must read the body to the
// end (or fail).
type ClipFunc func(body io.Reader, size int64) error

// ReadSegmentTar reads a segment tar: segment.json first, then clip.mp4 if
// and only if segment.json describes a clip (of exactly that size), then
// nothing else. The clip is streamed to clip, which may be nil to check the
// tar only. Errors from the tar's shape or content wrap ErrInvalid; errors
// from clip are returned as they are.
func ReadSegmentTar(r io.Reader, clip ClipFunc) (*Segment, []byte, error) {
	tr := tar.NewReader(r)
	h, err := next(tr)
	if err != nil {
		return nil, nil, err
	}
	if h == nil || h.Name != JSONFile {
		return nil, nil, badTar("first entry must be %s", JSONFile)
	}
	if h.Size > MaxJSON {
		return nil, nil, badTar("%s is %d bytes, over %d", JSONFile, h.Size, MaxJSON)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return nil, nil, badTar("%s: %v", JSONFile, err)
	}
	seg, err := ParseSegment(data)
	if err != nil {
		return nil, nil, err
	}
	h, err = next(tr)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case h == nil && seg.Clip != nil:
		return nil, nil, badTar("segment.json describes a clip but %s is missing", ClipFile)
	case h == nil:
		return seg, data, nil
	case h.Name != ClipFile:
		return nil, nil, badTar("unexpected entry %q", h.Name)
	case seg.Clip == nil:
		return nil, nil, badTar("%s present but segment.json describes no clip", ClipFile)
	case h.Size != seg.Clip.Bytes:
		return nil, nil, badTar("%s is %d bytes, segment.json says %d", ClipFile, h.Size, seg.Clip.Bytes)
	}
	// An MP4 starts with a box whose type is ftyp; checking it catches a
	// box sending the wrong file.
	head := make([]byte, 8)
	if _, err := io.ReadFull(tr, head); err != nil || string(head[4:8]) != "ftyp" {
		return nil, nil, badTar("%s is not an MP4 (no ftyp box)", ClipFile)
	}
	body := io.MultiReader(bytes.NewReader(head), tr)
	if clip == nil {
		clip = func(r io.Reader, _ int64) error { _, err := io.Copy(io.Discard, r); return err }
	}
	if err := clip(body, h.Size); err != nil {
		if errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, badTar("%s: %v", ClipFile, err)
		}
		return nil, nil, err
	}
	if h, err = next(tr); err != nil {
		return nil, nil, err
	} else if h != nil {
		return nil, nil, badTar("unexpected entry %q after %s", h.Name, ClipFile)
	}
	return seg, data, nil
}

func badTar(f string, a ...any) error {
	return fmt.Errorf("%w: segment tar: %s", ErrInvalid, fmt.Sprintf(f, a...))
}

// next returns the next regular file's header, or nil at the end.
func next(tr *tar.Reader) (*tar.Header, error) {
	h, err := tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, badTar("%v", err)
	}
	if h.Typeflag != tar.TypeReg {
		return nil, badTar("entry %q is not a regular file", h.Name)
	}
	return h, nil
}
