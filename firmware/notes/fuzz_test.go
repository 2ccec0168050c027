package notes_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/cunbo/cunbo/firmware/notes"
)

// noClient is never called: Open and the book's own methods do not talk
// to the service.
type noClient struct{ t *testing.T }

func (c noClient) Do(context.Context, string, string, any, any) error {
	c.t.Fatal("the service was asked while opening notes.json")
	return nil
}

// FuzzOpen: whatever notes.json holds (a torn write from another tool, a
// card going bad), the box opens, loses nothing it can read, and either
// keeps the file or sets it aside.
func FuzzOpen(f *testing.F) {
	f.Add([]byte(`{"after":3,"notes":[{"seq":2,"text":"说“很实在”就好","from":"王老师","at":"2026-12-06T06:05:00Z"},{"seq":3,"text":"第二句","from":"王老师","at":"2026-12-06T06:06:00Z","read":true}]}`))
	f.Add([]byte(`{"after":`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"notes":[{"seq":-1},{"seq":-1}]}`))
	f.Add([]byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "notes.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := notes.Open(notes.Config{Client: noClient{t}, Dir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		_, kept := os.Stat(path)
		_, aside := os.Stat(path + ".bad")
		if (kept == nil) == (aside == nil) {
			t.Fatalf("notes.json kept %v, set aside %v: want exactly one", kept == nil, aside == nil)
		}
		for _, n := range b.Unread() {
			if n.Read {
				t.Fatalf("a read note among the unread: %+v", n)
			}
			if err := b.MarkRead(n.Seq); err != nil {
				t.Fatalf("MarkRead(%d): %v", n.Seq, err)
			}
		}
		if len(b.Unread()) != 0 {
			t.Fatalf("unread after marking every one read: %+v", b.Unread())
		}
	})
}
