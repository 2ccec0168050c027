package pipeline

import (
	"errors"
	"time"

	"github.com/cunbo/cunbo/overlay"
	"github.com/cunbo/cunbo/stream/record"
)

// Mark is one "I misspoke" press.
type Mark struct {
	At time.Time
	// PTS is At on the pipeline clock.
	PTS time.Duration
	// Hold protects the recording around At; zero when not recording.
	Hold record.HoldID
}

// Card says which product card the viewers see.
type Card struct {
	Index   int // -1 with an empty catalogue
	Visible bool
	Name    string
}

// NextCard shows the next product's card.
func (p *Pipeline) NextCard() error {
	if p.comp == nil {
		return errNoCards
	}
	p.comp.Next()
	return nil
}

// PrevCard shows the previous product's card.
func (p *Pipeline) PrevCard() error {
	if p.comp == nil {
		return errNoCards
	}
	p.comp.Prev()
	return nil
}

// HideCard takes the card off the broadcast; NextCard or PrevCard bring
// it back.
func (p *Pipeline) HideCard() error {
	if p.comp == nil {
		return errNoCards
	}
	p.comp.Hide()
	return nil
}

// SelectCard shows product i's card.
func (p *Pipeline) SelectCard(i int) error {
	if p.comp == nil {
		return errNoCards
	}
	return p.comp.Select(i)
}

var errNoCards = errors.New("pipeline: no product cards (no catalogue or no font)")

// Card reports the card on the broadcast.
func (p *Pipeline) Card() Card {
	if p.comp == nil {
		return Card{Index: -1}
	}
	i, visible := p.comp.Current()
	c := Card{Index: i, Visible: visible}
	if i >= 0 && i < p.cfg.Catalog.Len() {
		c.Name = p.cfg.Catalog.Products[i].Name
	}
	return c
}

// Catalog is the catalogue the cards come from (nil for none).
func (p *Pipeline) Catalog() *overlay.Catalog { return p.cfg.Catalog }

// Compositor is the overlay in use, nil without cards (tests identify
// cards in decoded frames with it).
func (p *Pipeline) Compositor() *overlay.Compositor { return p.comp }

// Mark remembers "I misspoke" now and protects the last MarkWindow of the
// recording from the ring's quota until the Hold is released (by whoever
// cuts the clip).
func (p *Pipeline) Mark() error {
	now := time.Now()
	m := Mark{At: now, PTS: now.Sub(p.cfg.Epoch)}
	if p.rec != nil && p.Live() {
		m.Hold = p.rec.Hold(now.Add(-p.cfg.MarkWindow), now.Add(5*time.Second))
	}
	p.marksMu.Lock()
	p.marks = append(p.marks, m)
	p.marksMu.Unlock()
	if p.cfg.OnMark != nil {
		go p.cfg.OnMark(m)
	}
	return nil
}

// Marks returns every mark so far, oldest first.
func (p *Pipeline) Marks() []Mark {
	p.marksMu.Lock()
	defer p.marksMu.Unlock()
	return append([]Mark(nil), p.marks...)
}
