package overlay

import (
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/hw"
)

// TransitionDuration is how long a show or hide takes; a card change
// spends half of it leaving and half arriving.
const TransitionDuration = 300 * time.Millisecond

// maxFrameStep bounds how far one frame can advance a transition, so a
// stalled camera or a PTS jump does not skip the animation entirely.
const maxFrameStep = 100 * time.Millisecond

// Compositor draws the selected product card onto live frames. The
// controls (Show, Hide, Next, Prev, Select, SetCatalog) may be called from
// any goroutine at any time; Apply is called by the one goroutine that
// owns the frames.
type Compositor struct {
	r   *Renderer
	log *slog.Logger

	renderMu sync.Mutex // serialises rendering outside mu so Apply never waits on it

	mu      sync.Mutex
	cat     *Catalog
	cards   []*Card // rendered on demand, indexed like cat.Products
	gen     int     // bumped by SetCatalog so stale renders are dropped
	target  int
	visible bool

	// Animation state, advanced by Apply on frame time.
	shown    *Card   // card on screen (possibly mid-transition), nil if none
	progress float64 // 0 hidden … 1 fully shown
	fastIn   bool    // the shown card arrived by a change: enter at double speed
	lastPTS  time.Duration
	havePTS  bool

	warnedSize atomic.Bool
}

// NewCompositor prepares a compositor for the catalogue. It starts hidden
// on the first product. A nil logger discards.
func NewCompositor(r *Renderer, cat *Catalog, logger *slog.Logger) *Compositor {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Compositor{r: r, log: logger}
	c.SetCatalog(cat)
	return c
}

// SetCatalog swaps the catalogue while live (a trainer's edit). The
// selection keeps its index when still valid; the card on screen fades
// into the new rendering.
func (c *Compositor) SetCatalog(cat *Catalog) {
	c.mu.Lock()
	c.cat = cat
	c.cards = make([]*Card, cat.Len())
	c.gen++
	if c.target >= cat.Len() {
		c.target = 0
	}
	idx, vis := c.target, c.visible
	c.mu.Unlock()
	if vis {
		c.ensureCard(idx)
	}
}

// Show shows the selected card.
func (c *Compositor) Show() { c.set(func(n int) (int, bool) { return c.target, true }) }

// Hide hides the card.
func (c *Compositor) Hide() { c.set(func(n int) (int, bool) { return c.target, false }) }

// Next selects the following product (wrapping around) and shows it.
func (c *Compositor) Next() {
	c.set(func(n int) (int, bool) { return (c.target + 1) % n, true })
}

// Prev selects the previous product (wrapping around) and shows it.
func (c *Compositor) Prev() {
	c.set(func(n int) (int, bool) { return (c.target + n - 1) % n, true })
}

// Select selects product i and shows it; an index out of range is an
// error and changes nothing.
func (c *Compositor) Select(i int) error {
	if n := c.catalogLen(); n == 0 {
		return fmt.Errorf("overlay: 商品目录是空的，没有第 %d 个商品", i+1)
	}
	var err error
	c.set(func(n int) (int, bool) {
		if i < 0 || i >= n {
			err = fmt.Errorf("overlay: 没有第 %d 个商品（共 %d 个）", i+1, n)
			return c.target, c.visible
		}
		return i, true
	})
	return err
}

func (c *Compositor) catalogLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cat.Len()
}

// Current reports the selected product index and whether the card is
// meant to be visible (the transition may still be running). The index is
// -1 for an empty catalogue.
func (c *Compositor) Current() (index int, visible bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cat.Len() == 0 {
		return -1, false
	}
	return c.target, c.visible
}

// set applies a control under the lock, then renders the newly selected
// card (if needed) before returning, so Apply only ever blends.
func (c *Compositor) set(change func(n int) (int, bool)) {
	c.mu.Lock()
	n := c.cat.Len()
	if n == 0 {
		c.mu.Unlock()
		c.log.Warn("商品目录是空的，无法显示商品卡")
		return
	}
	c.target, c.visible = change(n)
	idx, vis := c.target, c.visible
	c.mu.Unlock()
	c.log.Debug("overlay control", "index", idx, "visible", vis)
	if vis {
		c.ensureCard(idx)
	}
}

// Card returns the rendered card for product i, rendering it if needed.
func (c *Compositor) Card(i int) (*Card, error) {
	c.mu.Lock()
	n := c.cat.Len()
	c.mu.Unlock()
	if i < 0 || i >= n {
		return nil, fmt.Errorf("overlay: no product %d (catalogue has %d)", i, n)
	}
	card := c.ensureCard(i)
	if card == nil {
		return nil, fmt.Errorf("overlay: catalogue changed while rendering product %d", i)
	}
	return card, nil
}

func (c *Compositor) ensureCard(i int) *Card {
	c.renderMu.Lock()
	defer c.renderMu.Unlock()
	c.mu.Lock()
	if i >= len(c.cards) {
		c.mu.Unlock()
		return nil
	}
	if card := c.cards[i]; card != nil {
		c.mu.Unlock()
		return card
	}
	gen := c.gen
	p := &c.cat.Products[i]
	c.mu.Unlock()

	start := time.Now()
	card := c.r.Render(p)
	c.log.Debug("rendered product card", "index", i, "name", p.Name, "took", time.Since(start))

	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return nil
	}
	c.cards[i] = card
	return card
}

// CardRect is where the card sits, fully shown, in a frame of the given
// size (see the package-level CardRect).
func (c *Compositor) CardRect(frameW, frameH int) image.Rectangle {
	return CardRect(frameW, frameH)
}

// Apply draws the card onto f as it should look at f.PTS, touching only
// the card's pixels. It allocates nothing. Frames of a size other than the
// renderer's are passed through untouched (and logged once).
func (c *Compositor) Apply(f *hw.Frame) {
	c.mu.Lock()
	card, top, gain := c.advance(f.PTS)
	c.mu.Unlock()
	if card == nil {
		return
	}
	if f.Width != c.r.cfg.FrameWidth || f.Height != c.r.cfg.FrameHeight || card.checkFrame(f) != nil {
		if !c.warnedSize.Swap(true) {
			c.log.Error("frame does not match the overlay's output size; card not drawn",
				"frame_width", f.Width, "frame_height", f.Height,
				"want_width", c.r.cfg.FrameWidth, "want_height", c.r.cfg.FrameHeight)
		}
		return
	}
	card.blend(f, top, gain)
}

// advance moves the animation to pts and returns what to draw: the card,
// its top row and its alpha gain (0…256). Called with mu held.
func (c *Compositor) advance(pts time.Duration) (card *Card, top, gain int) {
	var dt time.Duration
	if c.havePTS {
		dt = min(max(pts-c.lastPTS, 0), maxFrameStep)
	}
	c.lastPTS, c.havePTS = pts, true
	step := float64(dt) / float64(TransitionDuration)

	want := c.shown
	if c.visible && c.target < len(c.cards) {
		if next := c.cards[c.target]; next != nil {
			want = next
		}
		// A card still being rendered keeps the current one on screen.
	} else {
		want = nil
	}

	switch {
	case want != nil && want == c.shown:
		speed := 1.0
		if c.fastIn {
			speed = 2
		}
		c.progress = min(c.progress+step*speed, 1)
		if c.progress == 1 {
			c.fastIn = false
		}
	case c.shown != nil && c.progress > 0:
		// Leaving: a hide takes the full duration, a change half.
		speed := 1.0
		if want != nil {
			speed = 2
		}
		c.progress = max(c.progress-step*speed, 0)
		if c.progress == 0 {
			c.fastIn = want != nil
			c.shown = want
		}
	default:
		c.shown, c.progress, c.fastIn = want, 0, false
		if want != nil {
			c.progress = min(step, 1)
		}
	}
	if c.shown == nil || c.progress <= 0 {
		return nil, 0, 0
	}
	e := smoothstep(c.progress)
	gain = int(e*256 + 0.5)
	slide := float64(c.r.layout.slide) * (1 - e)
	top = c.shown.Rect.Min.Y + even(int(slide+1)) // even keeps chroma rows aligned
	if e == 1 {
		top = c.shown.Rect.Min.Y
	}
	return c.shown, top, gain
}

func smoothstep(t float64) float64 { return t * t * (3 - 2*t) }

// MatchThreshold is the Card.Mismatch below which a card counts as
// visible in a decoded frame. It leaves room for H.264 at streaming
// bitrates; another card or the bare video scores several times higher.
const MatchThreshold = 12.0

// Identify reports which product's card is fully shown in f, for example
// a frame decoded from the stream, as its index and mismatch; the index is
// -1 when no card matches (the mismatch is then the closest one). A card
// matches within MatchThreshold, or within twice that when every other
// card scores at least twice as far: a stream stepped down by bitrate
// adaptation (half the size at ~315 kbit/s) and scaled back up blurs the
// card's text to ~8–13 while other cards and the bare video stay above 25.
// Every card is rendered on first use, so this is for tests and
// diagnostics, not the frame loop.
func (c *Compositor) Identify(f *hw.Frame) (index int, mismatch float64) {
	c.mu.Lock()
	n := c.cat.Len()
	c.mu.Unlock()
	mismatch, second := math.Inf(1), math.Inf(1)
	best := -1
	for i := 0; i < n; i++ {
		card, err := c.Card(i)
		if err != nil {
			continue
		}
		m, err := card.Mismatch(f)
		if err != nil {
			continue
		}
		switch {
		case m < mismatch:
			best, mismatch, second = i, m, mismatch
		case m < second:
			second = m
		}
	}
	if mismatch <= MatchThreshold || (mismatch <= 2*MatchThreshold && second >= 2*mismatch) {
		return best, mismatch
	}
	return -1, mismatch
}
