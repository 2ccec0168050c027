package linelog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type record struct {
	Level string
	Msg   string
	Line  string
	Count int
	Child string
}

func records(t *testing.T, buf *bytes.Buffer) []record {
	t.Helper()
	var out []record
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

func TestWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		keep   int
		lines  []string // logged, in order
		tail   string
	}{
		{"one line per write", []string{"a\n", "b\n"}, 8, []string{"a", "b"}, "a | b"},
		{"line split across writes", []string{"fra", "me=1\nfr", "ame=2\n"}, 8, []string{"frame=1", "frame=2"}, "frame=1 | frame=2"},
		{"blank lines and spaces dropped", []string{"\n  \n x \r\n"}, 8, []string{"x"}, "x"},
		{"unfinished line in the tail only", []string{"done\nhalf"}, 8, []string{"done"}, "done | half"},
		{"tail keeps the last lines", []string{"1\n2\n3\n4\n"}, 2, []string{"1", "2", "3", "4"}, "3 | 4"},
		{"no tail kept", []string{"1\n2\n"}, 0, []string{"1", "2"}, ""},
		{"a line without newline is cut", []string{strings.Repeat("z", maxPartial+1)}, 1, []string{strings.Repeat("z", maxPartial+1)}, strings.Repeat("z", maxPartial+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := New(Config{Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Level: slog.LevelDebug, Msg: "child stderr", Attrs: []any{"child", "cam"}, Keep: tt.keep, PerSecond: 100})
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			var got []string
			for _, r := range records(t, &buf) {
				if r.Msg != "child stderr" || r.Child != "cam" || r.Level != "DEBUG" {
					t.Errorf("record %+v", r)
				}
				got = append(got, r.Line)
			}
			if strings.Join(got, "\n") != strings.Join(tt.lines, "\n") {
				t.Errorf("logged %q, want %q", got, tt.lines)
			}
			if tail := w.Tail(); tail != tt.tail {
				t.Errorf("Tail() = %q, want %q", tail, tt.tail)
			}
		})
	}
}

// A child printing hundreds of lines a second gets a few logged and the
// rest counted, once the second is over.
func TestWriterRateLimit(t *testing.T) {
	var buf bytes.Buffer
	w := New(Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Level: slog.LevelWarn, Msg: "ffmpeg",
		Attrs: []any{"child", "enc"}, Keep: 3})
	clock := time.Unix(1000, 0)
	w.now = func() time.Time { return clock }
	for range 200 {
		w.Write([]byte("error while decoding\n"))
	}
	clock = clock.Add(1100 * time.Millisecond)
	w.Write([]byte("next second\n"))

	rs := records(t, &buf)
	if len(rs) != DefaultPerSecond+2 {
		t.Fatalf("%d records, want %d logged lines, the count and the next line: %+v", len(rs), DefaultPerSecond+2, rs)
	}
	if got := rs[DefaultPerSecond]; got.Msg != "stderr lines suppressed" || got.Count != 200-DefaultPerSecond || got.Child != "enc" || got.Level != "WARN" {
		t.Errorf("suppressed record %+v", got)
	}
	if got := rs[len(rs)-1]; got.Line != "next second" {
		t.Errorf("last record %+v", got)
	}
	if tail := w.Tail(); tail != "error while decoding | error while decoding | next second" {
		t.Errorf("the tail is kept whatever is logged: %q", tail)
	}
}

func TestWriterNilLogger(t *testing.T) {
	w := New(Config{Keep: 1})
	w.Write([]byte("no camera\n"))
	if w.Tail() != "no camera" {
		t.Errorf("Tail() = %q", w.Tail())
	}
}

// However stderr is cut into writes, every line comes out whole, once.
func FuzzWriter(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), uint8(1))
	f.Add([]byte("x\r\ny"), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		whole := New(Config{Keep: 1 << 20})
		whole.Write(b)
		pieces := New(Config{Keep: 1 << 20})
		step := int(cut)%7 + 1
		for i := 0; i < len(b); i += step {
			pieces.Write(b[i:min(i+step, len(b))])
		}
		if bytes.Count(b, []byte{'\n'}) > 0 && len(b) <= maxPartial && whole.Tail() != pieces.Tail() {
			t.Errorf("whole %q, in pieces of %d %q", whole.Tail(), step, pieces.Tail())
		}
	})
}
