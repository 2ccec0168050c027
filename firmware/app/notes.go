package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/cunbo/cunbo/firmware/notes"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/firmware/web"
)

// NewNotes sets up the coaching notes from the review service at url: the
// box signs in with its key in stateDir (the uploader's) and keeps the
// notes in stateDir/notes.
func NewNotes(url, stateDir string, log *slog.Logger) (*notes.Book, error) {
	key, err := upload.LoadOrCreateKey(stateDir)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	c, err := upload.NewBoxClient(url, key, nil)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	b, err := notes.Open(notes.Config{Client: c, Dir: filepath.Join(stateDir, "notes"), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return b, nil
}

// webNotes are the notes as the phone page shows them.
type webNotes struct{ b *notes.Book }

func (w webNotes) Unread() []web.NoteCard {
	var out []web.NoteCard
	for _, n := range w.b.Unread() {
		out = append(out, web.NoteCard{Seq: n.Seq, Text: n.Text, From: n.From, At: n.At})
	}
	return out
}

func (w webNotes) MarkRead(seq int64) error {
	err := w.b.MarkRead(seq)
	if errors.Is(err, notes.ErrNoNote) {
		return fmt.Errorf("%w: %w", web.ErrNoNote, err)
	}
	return err
}

// driveNotes keeps the notes quiet from the press of the big button until
// the stream has ended, as the uploads are: the stream comes first.
func (a *App) driveNotes(ctx context.Context) error {
	b := a.opts.Notes
	ch, stop := a.Box.Subscribe()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s, ok := <-ch:
			if !ok {
				return nil
			}
			b.SetLive(uploadsWait(s.State))
		}
	}
}

// webNotes is nil (no notes on the page) without a notes book: a nil
// *notes.Book in the interface would not be a nil web.Notes.
func (a *App) webNotes() web.Notes {
	if a.opts.Notes == nil {
		return nil
	}
	return webNotes{a.opts.Notes}
}
