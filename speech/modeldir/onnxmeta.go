package modeldir

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// ReadMetadata returns the metadata_props of an ONNX model without loading
// it: it walks the top-level protobuf fields of ModelProto and skips the
// (large) graph by its length prefix, so it costs a few reads even for a
// 200 MB model.
func ReadMetadata(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return readMetadata(f, st.Size())
}

const (
	metadataField = 14 // ModelProto.metadata_props
	maxMetaEntry  = 1 << 20
)

var errNotONNX = errors.New("not an ONNX model (bad protobuf)")

func readMetadata(f io.ReadSeeker, size int64) (map[string]string, error) {
	br := bufio.NewReader(f)
	pos := int64(0)
	meta := map[string]string{}
	readVarint := func() (uint64, error) {
		var v uint64
		for shift := uint(0); shift < 64; shift += 7 {
			b, err := br.ReadByte()
			if err != nil {
				return 0, err
			}
			pos++
			v |= uint64(b&0x7f) << shift
			if b < 0x80 {
				return v, nil
			}
		}
		return 0, errNotONNX
	}
	skip := func(n int64) error {
		if n < 0 || pos+n > size {
			return errNotONNX
		}
		if n <= int64(br.Buffered()) {
			_, err := br.Discard(int(n))
			pos += n
			return err
		}
		pos += n
		if _, err := f.Seek(pos, io.SeekStart); err != nil {
			return err
		}
		br.Reset(f)
		return nil
	}
	sawGraph := false
	for pos < size {
		tag, err := readVarint()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNotONNX, err)
		}
		field, wt := tag>>3, tag&7
		if field == 0 {
			return nil, errNotONNX
		}
		switch wt {
		case 0:
			if _, err := readVarint(); err != nil {
				return nil, fmt.Errorf("%w: %v", errNotONNX, err)
			}
		case 1:
			err = skip(8)
		case 5:
			err = skip(4)
		case 2:
			var n uint64
			if n, err = readVarint(); err != nil {
				return nil, fmt.Errorf("%w: %v", errNotONNX, err)
			}
			if n > uint64(size) {
				return nil, errNotONNX
			}
			if field == 7 {
				sawGraph = true
			}
			if field == metadataField {
				if n > maxMetaEntry {
					return nil, errNotONNX
				}
				buf := make([]byte, n)
				if _, err := io.ReadFull(br, buf); err != nil {
					return nil, fmt.Errorf("%w: %v", errNotONNX, err)
				}
				pos += int64(n)
				k, v, err := parseEntry(buf)
				if err != nil {
					return nil, err
				}
				meta[k] = v
			} else {
				err = skip(int64(n))
			}
		default:
			return nil, errNotONNX
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNotONNX, err)
		}
	}
	if !sawGraph {
		return nil, fmt.Errorf("%w: no graph", errNotONNX)
	}
	return meta, nil
}

// parseEntry decodes a StringStringEntryProto {1: key, 2: value}.
func parseEntry(b []byte) (key, value string, err error) {
	for len(b) > 0 {
		tag, n := uvarint(b)
		if n <= 0 || tag&7 != 2 {
			return "", "", errNotONNX
		}
		b = b[n:]
		l, n := uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return "", "", errNotONNX
		}
		s := string(b[n : n+int(l)])
		b = b[n+int(l):]
		switch tag >> 3 {
		case 1:
			key = s
		case 2:
			value = s
		}
	}
	return key, value, nil
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * uint(i))
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}
