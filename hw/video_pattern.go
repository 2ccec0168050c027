package hw

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// TestPatternConfig configures a TestPattern.
type TestPatternConfig struct {
	Format VideoFormat
	// Epoch is the pipeline clock's zero; zero means when the pattern is
	// created. Frame PTS and the drawn clock count from it.
	Epoch time.Time
}

// TestPattern is a synthetic camera: diagonal stripes scrolling each frame,
// a box sweeping across, colour bars, and the running clock and frame
// number drawn large in the top-left corner, so a frozen or stuttering
// stream is obvious to the eye and to tests. Frames are paced at real time.
type TestPattern struct {
	format VideoFormat
	epoch  time.Time
	ticker *time.Ticker

	mu     sync.Mutex
	n      int
	closed bool
	// luma row template, one period longer than a row so scrolling is a copy.
	lumaRow []byte
	uRow    []byte
	vRow    []byte
}

// NewTestPattern validates the format and starts the frame ticker.
func NewTestPattern(cfg TestPatternConfig) (*TestPattern, error) {
	if err := cfg.Format.Validate(); err != nil {
		return nil, err
	}
	w := cfg.Format.Width
	p := &TestPattern{
		format:  cfg.Format,
		epoch:   epochOr(cfg.Epoch),
		ticker:  time.NewTicker(cfg.Format.Interval()),
		lumaRow: make([]byte, w+stripePeriod),
		uRow:    make([]byte, w/2),
		vRow:    make([]byte, w/2),
	}
	for x := range p.lumaRow {
		// Triangle wave: soft stripes that compress well but move visibly.
		v := x % stripePeriod
		if v >= stripePeriod/2 {
			v = stripePeriod - v
		}
		p.lumaRow[x] = byte(40 + v*2)
	}
	// Seven colour bars in the chroma planes (white, yellow, cyan, green,
	// magenta, red, blue), as BT.601 U/V pairs.
	bars := [][2]byte{{128, 128}, {44, 142}, {156, 44}, {72, 58}, {184, 198}, {84, 255}, {255, 107}}
	for x := range p.uRow {
		b := bars[x*len(bars)/len(p.uRow)]
		p.uRow[x], p.vRow[x] = b[0], b[1]
	}
	return p, nil
}

const stripePeriod = 128

// Format implements VideoSource.
func (p *TestPattern) Format() VideoFormat { return p.format }

// ReadFrame waits for the next tick and draws frame n into f.
func (p *TestPattern) ReadFrame(ctx context.Context, f *Frame) error {
	if err := checkFrame(f, p.format); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-p.ticker.C:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("hw: test pattern closed")
	}
	pts := pipelineTime(p.epoch)
	p.draw(f, p.n, pts)
	f.PTS = pts
	p.n++
	return nil
}

func (p *TestPattern) draw(f *Frame, n int, pts time.Duration) {
	w, h := p.format.Width, p.format.Height
	shift := (n * 4) % stripePeriod
	for y := 0; y < h; y++ {
		off := (shift + y) % stripePeriod
		copy(f.Y[y*w:(y+1)*w], p.lumaRow[off:off+w])
	}
	cw := w / 2
	for y := 0; y < h/2; y++ {
		copy(f.U[y*cw:(y+1)*cw], p.uRow)
		copy(f.V[y*cw:(y+1)*cw], p.vRow)
	}

	// A bright box sweeping left to right once every two seconds.
	box := max(8, h/8)
	span := w - box
	period := 2 * p.format.FPS
	bx := span * (n % period) / period
	fillY(f, bx, h-box-h/16, box, box, 235)

	// Clock and frame counter, white on a black plate.
	text := fmt.Sprintf("%s #%06d", clockText(pts), n%1000000)
	scale := textScale(w, h, len(text))
	plateW := len(text)*6*scale + 2*scale
	plateH := 7*scale + 2*scale
	fillY(f, 0, 0, plateW, plateH, 16)
	fillC(f, 0, 0, plateW, plateH)
	drawText(f, scale, scale, scale, text)
}

// textScale sizes the clock to about a twelfth of the short side while
// keeping it inside the frame width.
func textScale(w, h, chars int) int {
	return max(1, min(min(w, h)/100, (w-4)/(chars*6+2)))
}

func clockText(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

// fillY paints a luma rectangle, clipped to the frame.
func fillY(f *Frame, x0, y0, w, h int, v byte) {
	x1, y1 := min(x0+w, f.Width), min(y0+h, f.Height)
	x0, y0 = max(x0, 0), max(y0, 0)
	if x0 >= x1 {
		return
	}
	for y := y0; y < y1; y++ {
		row := f.Y[y*f.Width+x0 : y*f.Width+x1]
		for i := range row {
			row[i] = v
		}
	}
}

// fillC makes a rectangle grey in the chroma planes.
func fillC(f *Frame, x0, y0, w, h int) {
	cw, ch := f.Width/2, f.Height/2
	x1, y1 := min((x0+w+1)/2, cw), min((y0+h+1)/2, ch)
	for y := y0 / 2; y < y1; y++ {
		for x := x0 / 2; x < x1; x++ {
			f.U[y*cw+x], f.V[y*cw+x] = 128, 128
		}
	}
}

// drawText draws with a 5×7 bitmap font, each dot scale×scale pixels.
func drawText(f *Frame, x, y, scale int, s string) {
	for _, r := range s {
		g, ok := glyphs[r]
		if ok {
			for row, bits := range g {
				for col := 0; col < 5; col++ {
					if bits&(0x10>>col) != 0 {
						fillY(f, x+col*scale, y+row*scale, scale, scale, 235)
					}
				}
			}
		}
		x += 6 * scale
	}
}

var glyphs = map[rune][7]byte{
	'0': {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e},
	'1': {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e},
	'2': {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f},
	'3': {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e},
	'4': {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02},
	'5': {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e},
	'6': {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e},
	'7': {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
	'8': {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e},
	'9': {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c},
	':': {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00},
	'.': {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c},
	'#': {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a},
}

// Close stops the ticker.
func (p *TestPattern) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.ticker.Stop()
	}
	return nil
}
