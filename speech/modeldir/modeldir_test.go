package modeldir

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cunbo/cunbo/internal/sharedtest"
)

// sharedTestdata is ../shared/testdata (see internal/sharedtest).
func sharedTestdata(t *testing.T) string { return sharedtest.Dir(t) }

// fakeONNX encodes a ModelProto with ir_version, a dummy graph and the
// given metadata, enough for ReadMetadata.
func fakeONNX(meta map[string]string) []byte {
	var b []byte
	b = append(b, 0x08, 7)                    // ir_version = 7
	b = append(b, 0x3a, 4, 0x0a, 2, 'g', 'x') // graph {name: "gx"}
	b = append(b, 0x42, 4, 0x0a, 0, 0x10, 13) // opset_import
	for k, v := range meta {
		entry := append([]byte{0x0a, byte(len(k))}, k...)
		entry = append(entry, 0x12, byte(len(v)))
		entry = append(entry, v...)
		b = append(b, 0x72, byte(len(entry))) // field 14, wire type 2
		b = append(b, entry...)
	}
	return b
}

func writeDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDetectScriptedCTC(t *testing.T) {
	dir := filepath.Join(sharedTestdata(t), "models", "scripted-ctc")
	l, err := Detect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l.Family != TDNNCTC || filepath.Base(l.Model) != "model.onnx" || filepath.Base(l.Tokens) != "tokens.txt" {
		t.Fatalf("layout %+v", l)
	}
	meta, err := ReadMetadata(l.Model)
	if err != nil || meta["model_type"] != "tdnn" || meta["vocab_size"] != "12" {
		t.Fatalf("metadata %v %v", meta, err)
	}
}

func TestDetectLayouts(t *testing.T) {
	tok := []byte("<blk> 0\n")
	tests := []struct {
		name    string
		files   map[string][]byte
		family  Family
		model   string // base name of Model or Encoder
		hotword bool
	}{
		{"streaming zipformer prefers int8", map[string][]byte{
			"encoder-epoch-99-avg-1.onnx": nil, "encoder-epoch-99-avg-1.int8.onnx": nil,
			"decoder-epoch-99-avg-1.onnx": nil, "joiner-epoch-99-avg-1.int8.onnx": nil,
			"tokens.txt": tok, "hotwords.txt": []byte("辣椒酱\n"),
		}, StreamingTransducer, "encoder-epoch-99-avg-1.int8.onnx", true},
		{"streaming paraformer", map[string][]byte{
			"encoder.int8.onnx": nil, "decoder.int8.onnx": nil, "tokens.txt": tok,
		}, StreamingParaformer, "encoder.int8.onnx", false},
		{"paraformer by metadata", map[string][]byte{
			"model.int8.onnx": fakeONNX(map[string]string{"lfr_window_size": "7", "vocab_size": "8404"}), "tokens.txt": tok,
		}, Paraformer, "model.int8.onnx", false},
		{"sense voice by metadata", map[string][]byte{
			"model.int8.onnx": fakeONNX(map[string]string{"with_itn": "14", "lang_zh": "3"}), "tokens.txt": tok,
		}, SenseVoice, "model.int8.onnx", false},
		{"model.json overrides", map[string][]byte{
			"encoder.onnx": nil, "decoder.onnx": nil, "joiner.onnx": nil, "tokens.txt": tok,
			"hotwords.txt": []byte("苗绣\n"), "model.json": []byte(`{"family":"offline-transducer","hotwords_score":2}`),
		}, OfflineTransducer, "encoder.onnx", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Detect(writeDir(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			main := l.Model
			if l.Encoder != "" {
				main = l.Encoder
			}
			if l.Family != tc.family || filepath.Base(main) != tc.model || (l.Hotwords != "") != tc.hotword {
				t.Fatalf("got %+v", l)
			}
		})
	}
}

func TestDetectErrors(t *testing.T) {
	tok := []byte("<blk> 0\n")
	tests := []struct {
		name    string
		dir     func(t *testing.T) string
		noModel bool
	}{
		{"unset", func(*testing.T) string { return "" }, true},
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, true},
		{"empty", func(t *testing.T) string { return t.TempDir() }, true},
		{"no tokens", func(t *testing.T) string { return writeDir(t, map[string][]byte{"model.onnx": fakeONNX(nil)}) }, false},
		{"garbage onnx", func(t *testing.T) string {
			return writeDir(t, map[string][]byte{"model.onnx": []byte("this is not a model\xff\xff"), "tokens.txt": tok})
		}, false},
		{"unknown metadata", func(t *testing.T) string {
			return writeDir(t, map[string][]byte{"model.onnx": fakeONNX(map[string]string{"model_type": "whisper"}), "tokens.txt": tok})
		}, false},
		{"bad model.json", func(t *testing.T) string {
			return writeDir(t, map[string][]byte{"model.onnx": nil, "tokens.txt": tok, "model.json": []byte(`{"family":"gpt"}`)})
		}, false},
		{"joiner missing for transducer", func(t *testing.T) string {
			return writeDir(t, map[string][]byte{"encoder.onnx": nil, "decoder.onnx": nil, "tokens.txt": tok, "model.json": []byte(`{"family":"streaming-transducer"}`)})
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Detect(tc.dir(t))
			if err == nil {
				t.Fatal("accepted")
			}
			if errors.Is(err, ErrNoModel) != tc.noModel {
				t.Fatalf("ErrNoModel=%v, want %v: %v", errors.Is(err, ErrNoModel), tc.noModel, err)
			}
		})
	}
}

// FuzzReadMetadata: a model file from a trainer's USB stick may be anything;
// the metadata reader must return an error, never panic or hang.
func FuzzReadMetadata(f *testing.F) {
	f.Add(fakeONNX(map[string]string{"model_type": "tdnn", "vocab_size": "12"}))
	f.Add(fakeONNX(nil))
	f.Add([]byte("not a model"))
	f.Add([]byte{0x72, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = readMetadata(bytes.NewReader(data), int64(len(data)))
	})
}
