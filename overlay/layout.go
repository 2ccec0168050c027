package overlay

import (
	"image"
	"math"
)

// layout is the card geometry for one output size. Everything is derived
// from a scale factor so a 720-pixel-wide portrait frame gets the sizes the
// design was drawn at, and other outputs get the same look.
type layout struct {
	scale float64
	rect  image.Rectangle // card position in the frame when fully shown

	pad, gap, radius, photoRadius int
	bandHeight                    int // tagline band at the bottom
	badgeHeight, badgePadX        int
	slide                         int // slide distance of show/hide transitions

	nameSize, unitSize, badgeSize, taglineSize, yenSize float64
	priceSizes                                          []float64 // largest first; the first that fits is used
}

// designWidth is the frame width (portrait) the design sizes are drawn at.
const designWidth = 720

func newLayout(frameW, frameH int) layout {
	portrait := frameH >= frameW
	short := min(frameW, frameH)
	s := float64(short) / designWidth
	if !portrait {
		// In landscape the card sits beside the streamer rather than below
		// her, so it is a little smaller relative to the frame.
		s *= 0.85
	}
	px := func(v float64) int { return int(math.Round(v * s)) }
	l := layout{
		scale:       s,
		pad:         px(20),
		gap:         px(22),
		radius:      px(26),
		photoRadius: px(16),
		bandHeight:  even(px(56)),
		badgeHeight: px(50),
		badgePadX:   px(16),
		slide:       even(px(48)),
		nameSize:    46 * s,
		unitSize:    34 * s,
		badgeSize:   34 * s,
		taglineSize: 34 * s,
		yenSize:     48 * s,
		priceSizes:  []float64{92 * s, 80 * s, 68 * s, 56 * s},
	}
	cw, ch := even(px(640)), even(px(360))
	cw, ch = min(cw, even(frameW)), min(ch, even(frameH))
	var x, y int
	if portrait {
		// Lower third, centred, clear of the platform's own controls along
		// the very bottom of a phone screen.
		x = even((frameW - cw) / 2)
		y = even(frameH - ch - frameH*12/100)
	} else {
		x = even(frameW * 3 / 100)
		y = even(frameH - ch - frameH*5/100)
	}
	l.rect = image.Rect(x, y, x+cw, y+ch)
	return l
}

// CardRect is where the product card sits in a frame of the given size when
// it is fully shown. Its corners are even so chroma planes align.
func CardRect(frameW, frameH int) image.Rectangle {
	return newLayout(frameW, frameH).rect
}

func even(v int) int { return v &^ 1 }
