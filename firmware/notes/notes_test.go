package notes_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/notes"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
)

// service is the real review service (sign-in, notes, receipts on SQLite)
// behind a switch that can answer 503 for one path, as a service in
// trouble does, and counts the box's requests.
type service struct {
	st   store.Store
	url  string
	box  string
	key  ed25519.PrivateKey
	down atomic.Value // path prefix answered 503; "" none

	mu   sync.Mutex
	reqs []string // "METHOD path"
}

func newService(t *testing.T) *service {
	t.Helper()
	srv, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s := &service{st: srv.Store()}
	s.down.Store("")
	h := srv.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		if d := s.down.Load().(string); d != "" && strings.HasPrefix(r.URL.Path, d) {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	s.url = hs.URL
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.key = priv
	if s.box, err = boxauth.Enroll(context.Background(), s.st, pub, "雷山 村A", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *service) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

func (s *service) addNote(t *testing.T, text string) store.Note {
	t.Helper()
	n, err := s.st.AddNote(context.Background(), store.Note{BoxID: s.box, Text: text, Author: "王老师", At: time.Now()},
		store.AuditEntry{At: time.Now(), Actor: "test", Action: "note.add", Subject: s.box})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *service) readAt(t *testing.T, seq int64) time.Time {
	t.Helper()
	at, err := s.st.NoteReadAt(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// open opens the box's notes in dir, talking to s; run runs them until the
// test (or stop) ends.
func (s *service) open(t *testing.T, dir string) *notes.Book {
	t.Helper()
	return s.openEvery(t, dir, 100*time.Millisecond)
}

func (s *service) openEvery(t *testing.T, dir string, interval time.Duration) *notes.Book {
	t.Helper()
	c, err := upload.NewBoxClient(s.url, s.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := notes.Open(notes.Config{Client: c, Dir: dir, Interval: interval,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func run(t *testing.T, b *notes.Book) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func texts(ns []notes.Note) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.Text)
	}
	return strings.Join(s, "|")
}

// Notes written to her arrive, stay on disk across a restart, are never
// fetched twice, and her 知道了 reaches the service.
func TestFetchKeepAndReceipt(t *testing.T) {
	s := newService(t)
	dir := t.TempDir()
	n1, n2 := s.addNote(t, "说“价格很实在”就好"), s.addNote(t, "不要说“全网最低”")
	b := s.open(t, dir)
	stop := run(t, b)
	waitFor(t, "two unread notes", func() bool { return texts(b.Unread()) == n1.Text+"|"+n2.Text })
	if got := b.Unread()[0]; got.From != "王老师" || got.Seq != n1.Seq || got.At.IsZero() {
		t.Fatalf("first note %+v", got)
	}
	if err := b.MarkRead(n1.Seq); err != nil {
		t.Fatal(err)
	}
	if got := texts(b.Unread()); got != n2.Text {
		t.Fatalf("unread after 知道了: %q", got)
	}
	waitFor(t, "the receipt at the service", func() bool { return !s.readAt(t, n1.Seq).IsZero() })
	if !s.readAt(t, n2.Seq).IsZero() {
		t.Fatal("the unread note is marked read at the service")
	}
	if err := b.MarkRead(n1.Seq + 1000); !errors.Is(err, notes.ErrNoNote) {
		t.Fatalf("unknown note: %v", err)
	}
	stop()

	// A restart: the notes come from disk, the service is asked only for
	// what is newer.
	n3 := s.addNote(t, "第三句")
	before := len(s.requests())
	b = s.open(t, dir)
	if got := texts(b.Unread()); got != n2.Text {
		t.Fatalf("unread after a restart, before any fetch: %q", got)
	}
	run(t, b)
	waitFor(t, "the new note after the restart", func() bool { return texts(b.Unread()) == n2.Text+"|"+n3.Text })
	for _, r := range s.requests()[before:] {
		if strings.HasPrefix(r, "POST /api/box/notes/read") {
			t.Errorf("a receipt acknowledged before the restart was sent again: %s", r)
		}
	}
	if len(b.All()) != 3 {
		t.Fatalf("%d notes kept, want 3", len(b.All()))
	}
}

// A receipt the service cannot take is kept on disk and sent after a
// restart; nothing is lost and the retries back off.
func TestReceiptRetriedUntilAcknowledged(t *testing.T) {
	s := newService(t)
	dir := t.TempDir()
	n := s.addNote(t, "说“很实在”就好")
	b := s.open(t, dir)
	stop := run(t, b)
	waitFor(t, "the note", func() bool { return len(b.Unread()) == 1 })
	s.down.Store("/api/box/notes/read")
	if err := b.MarkRead(n.Seq); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a refused receipt", func() bool {
		for _, r := range s.requests() {
			if r == "POST /api/box/notes/read" {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second)
	stop()
	tries := 0
	for _, r := range s.requests() {
		if r == "POST /api/box/notes/read" {
			tries++
		}
	}
	// Backing off from 50 ms to 200 ms: a second holds at most a handful.
	if tries > 15 {
		t.Errorf("%d receipt attempts in about a second: no backoff", tries)
	}
	if !s.readAt(t, n.Seq).IsZero() {
		t.Fatal("the service has the receipt it refused")
	}

	s.down.Store("")
	b = s.open(t, dir)
	if len(b.Unread()) != 0 {
		t.Fatal("the note read before the restart is unread again")
	}
	run(t, b)
	waitFor(t, "the receipt after the restart", func() bool { return !s.readAt(t, n.Seq).IsZero() })
}

// The box looks for notes as it starts; while it is live nothing goes to
// the service; as the live ends it looks at once (the interval here is an
// hour, so only the end of the live can make it look).
func TestNothingWhileLive(t *testing.T) {
	s := newService(t)
	first := s.addNote(t, "开播前看")
	b := s.openEvery(t, t.TempDir(), time.Hour)
	run(t, b)
	waitFor(t, "the note at start", func() bool { return texts(b.Unread()) == first.Text })
	b.SetLive(true)
	sent := len(s.requests())
	n := s.addNote(t, "下播后看")
	if err := b.MarkRead(first.Seq); err != nil { // the receipt waits too
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if r := s.requests()[sent:]; len(r) != 0 {
		t.Fatalf("requests while live: %v", r)
	}
	b.SetLive(false)
	waitFor(t, "the note after the live", func() bool { return texts(b.Unread()) == n.Text })
	waitFor(t, "the receipt after the live", func() bool { return !s.readAt(t, first.Seq).IsZero() })
}

// A damaged notes.json is set aside; the notes are fetched again.
func TestDamagedFileSetAside(t *testing.T) {
	s := newService(t)
	dir := t.TempDir()
	n := s.addNote(t, "再来一次")
	if err := os.WriteFile(filepath.Join(dir, "notes.json"), []byte(`{"after":`), 0o600); err != nil {
		t.Fatal(err)
	}
	b := s.open(t, dir)
	if _, err := os.Stat(filepath.Join(dir, "notes.json.bad")); err != nil {
		t.Fatalf("damaged file not set aside: %v", err)
	}
	run(t, b)
	waitFor(t, "the note fetched again", func() bool { return texts(b.Unread()) == n.Text })
}

// At most Keep notes are kept; the read and acknowledged go first, and
// those dropped are not fetched again.
func TestKeepBounded(t *testing.T) {
	s := newService(t)
	dir := t.TempDir()
	c, err := upload.NewBoxClient(s.url, s.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := notes.Open(notes.Config{Client: c, Dir: dir, Keep: 3, Interval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	first := s.addNote(t, "一")
	s.addNote(t, "二")
	run(t, b)
	waitFor(t, "two notes", func() bool { return len(b.All()) == 2 })
	if err := b.MarkRead(first.Seq); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the receipt", func() bool { return !s.readAt(t, first.Seq).IsZero() })
	for _, text := range []string{"三", "四"} {
		s.addNote(t, text)
	}
	waitFor(t, "the newest three, the read one gone", func() bool { return texts(b.All()) == "二|三|四" })
	s.addNote(t, "五") // none read: the oldest goes
	waitFor(t, "the newest three", func() bool { return texts(b.All()) == "三|四|五" })
	time.Sleep(300 * time.Millisecond)
	if got := texts(b.All()); got != "三|四|五" {
		t.Fatalf("notes dropped came back: %q", got)
	}
}
