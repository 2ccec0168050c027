// Package notes brings her social worker's coaching notes to the box and
// takes her read receipts back to the review service.
//
// The box asks for new notes only while it is idle — at start, about once
// a minute, and right after a live ends — never while live: the stream
// comes first. What it fetched is kept in notes.json (written atomically,
// so a power cut leaves the old file or the new one) before the box asks
// for anything after it, so a note once fetched is never fetched again nor
// lost; at most Keep notes are kept, those read and acknowledged going
// first. When she presses 知道了 the note is marked read on disk and the
// receipt (POST /api/box/notes/read) is sent, and sent again after a
// restart, until the service acknowledges it.
package notes

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cunbo/cunbo/firmware/atomicfile"
	"github.com/cunbo/cunbo/firmware/idlework"
	"github.com/cunbo/cunbo/firmware/upload"
)

// The review service's paths (review/console).
const (
	fetchPath = "api/box/notes"
	readPath  = "api/box/notes/read"
)

// Defaults.
const (
	DefaultInterval   = time.Minute
	DefaultKeep       = 50
	DefaultMinBackoff = 5 * time.Second
	DefaultMaxBackoff = 10 * time.Minute
	// requestTimeout bounds one request: a stalled link must not hold the
	// loop past the next live.
	requestTimeout = 30 * time.Second
)

// Note is one coaching note as the box keeps it.
type Note struct {
	Seq  int64     `json:"seq"`
	Text string    `json:"text"`
	From string    `json:"from"` // the social worker's name
	At   time.Time `json:"at"`   // when she wrote it (the service's clock)
	// Read: she pressed 知道了. Acked: the service has the receipt.
	Read  bool `json:"read,omitempty"`
	Acked bool `json:"acked,omitempty"`
}

// Client is the box's signed-in client of the review service
// (*upload.BoxClient).
type Client interface {
	Do(ctx context.Context, method, path string, in, out any) error
}

// Config sets up a Book.
type Config struct {
	Client Client
	// Dir holds notes.json (e.g. /var/lib/cunbo/notes).
	Dir string
	// Keep is the most notes kept (DefaultKeep).
	Keep int
	// Interval is how often an idle box asks for new notes
	// (DefaultInterval).
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed request
	// (doubling, with jitter).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// file is notes.json.
type file struct {
	// After is the newest seq fetched: notes dropped to stay within Keep
	// are not fetched again.
	After int64  `json:"after"`
	Notes []Note `json:"notes"` // oldest first
}

// Book is the box's notes. Unread, MarkRead and SetLive may be called
// from any goroutine; Run fetches and sends.
type Book struct {
	cfg  Config
	log  *slog.Logger
	path string
	loop *idlework.Loop

	mu sync.Mutex
	f  file
}

// ErrNoNote: MarkRead of a seq the box does not have.
var ErrNoNote = errors.New("notes: no such note")

// Open loads the notes kept in cfg.Dir. A damaged notes.json is set aside
// (notes.json.bad) and logged: the box then asks for the notes again from
// the start, so nothing the service has is lost.
func Open(cfg Config) (*Book, error) {
	if cfg.Client == nil || cfg.Dir == "" {
		return nil, errors.New("notes: a client and a folder are required")
	}
	if cfg.Keep <= 0 {
		cfg.Keep = DefaultKeep
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(cfg.MinBackoff, DefaultMaxBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("notes: %w", err)
	}
	b := &Book{cfg: cfg, log: cfg.Logger, path: filepath.Join(cfg.Dir, "notes.json")}
	b.loop = idlework.New(idlework.Config{
		Name: "notes", Interval: cfg.Interval, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
		Step: b.sync, Logger: cfg.Logger,
	})
	data, err := os.ReadFile(b.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("notes: %w", err)
	default:
		if err := json.Unmarshal(data, &b.f); err != nil {
			b.f = file{}
			b.log.Error("notes.json damaged, set aside; the notes are fetched again", "err", err)
			if err := os.Rename(b.path, b.path+".bad"); err != nil {
				return nil, fmt.Errorf("notes: set aside %s: %w", b.path, err)
			}
		}
	}
	b.f = tidy(b.f)
	return b, nil
}

// tidy keeps a file read from the card to what the box itself writes:
// notes in seq order, each once, none without a seq the service gave.
func tidy(f file) file {
	out := file{After: f.After}
	for _, n := range f.Notes {
		if n.Seq <= 0 || slices.ContainsFunc(out.Notes, func(m Note) bool { return m.Seq == n.Seq }) {
			continue
		}
		out.Notes = append(out.Notes, n)
		out.After = max(out.After, n.Seq)
	}
	slices.SortFunc(out.Notes, func(a, b Note) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// Unread lists the notes she has not read, oldest first.
func (b *Book) Unread() []Note {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Note
	for _, n := range b.f.Notes {
		if !n.Read {
			out = append(out, n)
		}
	}
	return out
}

// All lists the notes kept, oldest first.
func (b *Book) All() []Note {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.f.Notes)
}

// MarkRead records that she read note seq (on disk before it returns) and
// has its receipt sent as soon as the box is idle. Marking a note read
// twice is not an error.
func (b *Book) MarkRead(seq int64) error {
	b.mu.Lock()
	i := slices.IndexFunc(b.f.Notes, func(n Note) bool { return n.Seq == seq })
	if i < 0 {
		b.mu.Unlock()
		return fmt.Errorf("notes: %d: %w", seq, ErrNoNote)
	}
	if b.f.Notes[i].Read {
		b.mu.Unlock()
		return nil
	}
	next := b.f
	next.Notes = slices.Clone(b.f.Notes)
	next.Notes[i].Read = true
	err := b.saveLocked(next)
	b.mu.Unlock()
	if err != nil {
		return err
	}
	b.loop.Wake()
	return nil
}

// SetLive stops all traffic while the box is live, starting or
// reconnecting (a request in flight is cut off), and looks for new notes
// as soon as it is idle again.
func (b *Book) SetLive(live bool) { b.loop.SetLive(live) }

// saveLocked writes next to disk and, once it is there, makes it the
// book's; b.mu is held.
func (b *Book) saveLocked(next file) error {
	data, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("notes: %w", err)
	}
	if err := atomicfile.WriteFile(b.path, data, 0o640); err != nil {
		return fmt.Errorf("notes: save: %w", err)
	}
	b.f = next
	return nil
}

// Run fetches new notes and sends receipts while the box is idle, until
// ctx ends.
func (b *Book) Run(ctx context.Context) error { return b.loop.Run(ctx) }

// sync sends the receipts waiting, then fetches what is new; ctx ends
// when the box goes live.
func (b *Book) sync(ctx context.Context) error {
	// A receipt that cannot go does not hold up new notes, nor they it.
	return errors.Join(b.sendReceipts(ctx), b.fetch(ctx))
}

func (b *Book) sendReceipts(ctx context.Context) error {
	for _, n := range b.All() {
		if !n.Read || n.Acked {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		var out struct {
			Seq int64 `json:"seq"`
		}
		err := b.cfg.Client.Do(rctx, http.MethodPost, readPath, map[string]int64{"seq": n.Seq}, &out)
		cancel()
		if upload.Refused(err) {
			// The service no longer has the note (its box forgotten, the
			// note deleted): nobody is waiting for this receipt.
			b.log.Warn("notes: receipt refused; not sent again", "seq", n.Seq, "err", err)
		} else if err != nil {
			return fmt.Errorf("notes: receipt %d: %w", n.Seq, err)
		}
		if err := b.update(n.Seq, func(n *Note) { n.Acked = true }); err != nil {
			return err
		}
		b.log.Info("notes: read receipt sent", "seq", n.Seq)
	}
	return nil
}

func (b *Book) update(seq int64, f func(*Note)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := b.f
	next.Notes = slices.Clone(b.f.Notes)
	for i := range next.Notes {
		if next.Notes[i].Seq == seq {
			f(&next.Notes[i])
		}
	}
	return b.saveLocked(next)
}

// maxNoteRunes bounds what the box keeps of one note, whatever the
// service sends (it allows 200 characters).
const maxNoteRunes = 500

func (b *Book) fetch(ctx context.Context) error {
	for {
		b.mu.Lock()
		after := b.f.After
		b.mu.Unlock()
		var out struct {
			Notes []Note `json:"notes"`
			More  bool   `json:"more"`
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err := b.cfg.Client.Do(rctx, http.MethodGet, fetchPath+"?after="+strconv.FormatInt(after, 10), nil, &out)
		cancel()
		if err != nil {
			return fmt.Errorf("notes: fetch: %w", err)
		}
		var fresh []Note
		for _, n := range out.Notes {
			if n.Seq <= after || (len(fresh) > 0 && n.Seq <= fresh[len(fresh)-1].Seq) {
				continue // not newer: never shown twice
			}
			if r := []rune(n.Text); len(r) > maxNoteRunes {
				n.Text = string(r[:maxNoteRunes])
			}
			n.Read, n.Acked = false, false
			fresh = append(fresh, n)
		}
		if len(fresh) == 0 {
			return nil
		}
		b.mu.Lock()
		next := file{After: fresh[len(fresh)-1].Seq, Notes: append(slices.Clone(b.f.Notes), fresh...)}
		next.Notes = trim(next.Notes, b.cfg.Keep)
		err = b.saveLocked(next)
		b.mu.Unlock()
		if err != nil {
			return err
		}
		b.log.Info("notes: new notes from her social worker", "count", len(fresh), "through", next.After)
		if !out.More {
			return nil
		}
	}
}

// trim keeps at most keep notes: the oldest read and acknowledged go
// first, then the oldest whatever they are.
func trim(ns []Note, keep int) []Note {
	for len(ns) > keep {
		i := slices.IndexFunc(ns, func(n Note) bool { return n.Read && n.Acked })
		if i < 0 {
			i = 0
		}
		ns = slices.Delete(ns, i, i+1)
	}
	return ns
}
