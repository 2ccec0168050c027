package overlay

import (
	"errors"
	"fmt"
	"image"

	"github.com/cunbo/cunbo/hw"
)

// Card is one rendered product card: the RGBA picture for previews, and
// the same picture as I420 planes with alpha (luma-resolution alpha for Y,
// 2×2-averaged alpha for U and V) for per-frame blending.
type Card struct {
	// Rect is where the card sits in the output frame when fully shown.
	Rect image.Rectangle
	// RGBA is the rendered card, premultiplied, at Rect's size.
	RGBA *image.RGBA
	// Texts lists the text on the card with its rendered glyph bounds.
	Texts []TextRun

	w, h     int
	y, a     []byte // w×h
	u, v, ca []byte // (w/2)×(h/2); chroma weighted by alpha
	ySp, cSp spanTable
	// Premultiplied planes for the fully shown card: pre = src·A/256 and
	// inv = 256−A, so the steady-state blend is one multiply-add. For
	// blended pixels (0 < alpha < 255) inv always fits a byte.
	yPre, yInv, uPre, vPre, cInv []byte
}

// Span kinds: each card row is cut into runs that are skipped (alpha 0),
// copied (alpha 255) or blended, so the common cases cost a memmove or
// nothing.
const (
	spanSkip uint8 = iota
	spanCopy
	spanBlend
)

type span struct {
	x0, x1 int32
	kind   uint8
}

// spanTable holds each row's spans back to back: row r's spans are
// list[row[r]:row[r+1]].
type spanTable struct {
	list []span
	row  []int32
}

func buildSpans(alpha []byte, w, h int) spanTable {
	t := spanTable{row: make([]int32, 0, h+1)}
	kindOf := func(a byte) uint8 {
		switch a {
		case 0:
			return spanSkip
		case 255:
			return spanCopy
		}
		return spanBlend
	}
	for r := 0; r < h; r++ {
		t.row = append(t.row, int32(len(t.list)))
		row := alpha[r*w : (r+1)*w]
		x0 := 0
		for x0 < w {
			k := kindOf(row[x0])
			x1 := x0 + 1
			for x1 < w && kindOf(row[x1]) == k {
				x1++
			}
			if k != spanSkip {
				t.list = append(t.list, span{int32(x0), int32(x1), k})
			}
			x0 = x1
		}
	}
	t.row = append(t.row, int32(len(t.list)))
	return t
}

// newCard converts the premultiplied RGBA rendering to I420 + alpha.
func newCard(img *image.RGBA, rect image.Rectangle, runs []TextRun, m ColorMatrix) *Card {
	w, h := rect.Dx(), rect.Dy()
	c := &Card{Rect: rect, RGBA: img, Texts: runs, w: w, h: h}
	c.y = make([]byte, w*h)
	c.a = make([]byte, w*h)
	cw, ch := w/2, h/2
	c.u = make([]byte, cw*ch)
	c.v = make([]byte, cw*ch)
	c.ca = make([]byte, cw*ch)
	kr, kb := 0.2126, 0.0722
	if m == BT601 {
		kr, kb = 0.299, 0.114
	}
	kg := 1 - kr - kb
	clamp := func(v float64) byte { return byte(min(max(v+0.5, 0), 255)) }
	for yy := 0; yy < h; yy++ {
		for xx := 0; xx < w; xx++ {
			o := img.PixOffset(xx, yy)
			p := img.Pix[o : o+4 : o+4]
			a := p[3]
			c.a[yy*w+xx] = a
			if a == 0 {
				continue
			}
			// Unpremultiply; luma is per pixel.
			r, g, b := float64(p[0])/float64(a), float64(p[1])/float64(a), float64(p[2])/float64(a)
			c.y[yy*w+xx] = clamp(16 + 219*(kr*r+kg*g+kb*b))
		}
	}
	for cy := 0; cy < ch; cy++ {
		for cx := 0; cx < cw; cx++ {
			// Chroma of a 2×2 block is the alpha-weighted mean colour, so
			// antialiased edges do not pick up the colour of transparent
			// neighbours.
			var sr, sg, sb, sa int
			for dy := 0; dy < 2; dy++ {
				o := img.PixOffset(2*cx, 2*cy+dy)
				p := img.Pix[o : o+8 : o+8]
				sr += int(p[0]) + int(p[4])
				sg += int(p[1]) + int(p[5])
				sb += int(p[2]) + int(p[6])
				sa += int(p[3]) + int(p[7])
			}
			i := cy*cw + cx
			c.ca[i] = byte((sa + 2) / 4)
			if sa == 0 {
				c.u[i], c.v[i] = 128, 128
				continue
			}
			r, g, b := float64(sr)/float64(sa), float64(sg)/float64(sa), float64(sb)/float64(sa)
			ey := kr*r + kg*g + kb*b
			c.u[i] = clamp(128 + 224*(b-ey)/(2*(1-kb)))
			c.v[i] = clamp(128 + 224*(r-ey)/(2*(1-kr)))
		}
	}
	c.yPre, c.yInv = premultiply(c.y, c.a)
	c.uPre, c.cInv = premultiply(c.u, c.ca)
	c.vPre, _ = premultiply(c.v, c.ca)
	c.ySp = buildSpans(c.a, w, h)
	c.cSp = buildSpans(c.ca, cw, ch)
	return c
}

func premultiply(src, alpha []byte) (pre, inv []byte) {
	pre, inv = make([]byte, len(src)), make([]byte, len(src))
	for i, a := range alpha {
		al := int(a) + int(a>>7)
		pre[i] = byte((int(src[i])*al + 128) >> 8)
		inv[i] = byte(min(256-al, 255))
	}
	return pre, inv
}

// Size is the card's width and height in pixels.
func (c *Card) Size() (w, h int) { return c.w, c.h }

// Planes returns the card's I420 planes and alphas (read-only): y and a
// are w×h, u, v and ca are (w/2)×(h/2).
func (c *Card) Planes() (y, u, v, a, ca []byte) { return c.y, c.u, c.v, c.a, c.ca }

// blend composites the card onto f with its left edge at Rect.Min.X and
// its top row at top (even), with the card's alpha scaled by gain/256.
// Rows outside the frame are clipped. It allocates nothing.
func (c *Card) blend(f *hw.Frame, top, gain int) {
	if gain <= 0 {
		return
	}
	gain = min(gain, 256)
	r0, r1 := max(0, -top), min(c.h, f.Height-top)
	if r0 >= r1 {
		return
	}
	x := c.Rect.Min.X
	cw := c.w / 2
	if gain == 256 {
		blendRowsPre(f.Y, f.Width, x, top, c.y, c.yPre, c.yInv, c.w, &c.ySp, r0, r1)
		blendRowsPre(f.U, f.Width/2, x/2, top/2, c.u, c.uPre, c.cInv, cw, &c.cSp, r0/2, r1/2)
		blendRowsPre(f.V, f.Width/2, x/2, top/2, c.v, c.vPre, c.cInv, cw, &c.cSp, r0/2, r1/2)
		return
	}
	blendRows(f.Y, f.Width, x, top, c.y, c.a, c.w, &c.ySp, r0, r1, gain)
	blendRows(f.U, f.Width/2, x/2, top/2, c.u, c.ca, cw, &c.cSp, r0/2, r1/2, gain)
	blendRows(f.V, f.Width/2, x/2, top/2, c.v, c.ca, cw, &c.cSp, r0/2, r1/2, gain)
}

// blendRowsPre is the steady-state path: the card fully shown.
func blendRowsPre(dst []byte, stride, x0, dstRow0 int, src, pre, inv []byte, sw int, t *spanTable, r0, r1 int) {
	for r := r0; r < r1; r++ {
		off := (dstRow0+r)*stride + x0
		d := dst[off : off+sw : off+sw]
		o := r * sw
		for _, sp := range t.list[t.row[r]:t.row[r+1]] {
			lo, hi := o+int(sp.x0), o+int(sp.x1)
			if sp.kind == spanCopy {
				copy(d[sp.x0:sp.x1], src[lo:hi])
			} else {
				blendPre(d[sp.x0:sp.x1], pre[lo:hi], inv[lo:hi])
			}
		}
	}
}

// blendRows handles transitions, with the card's alpha scaled by gain.
func blendRows(dst []byte, stride, x0, dstRow0 int, src, alpha []byte, sw int, t *spanTable, r0, r1, gain int) {
	for r := r0; r < r1; r++ {
		off := (dstRow0+r)*stride + x0
		d := dst[off : off+sw : off+sw]
		s := src[r*sw : (r+1)*sw : (r+1)*sw]
		a := alpha[r*sw : (r+1)*sw : (r+1)*sw]
		for _, sp := range t.list[t.row[r]:t.row[r+1]] {
			if sp.kind == spanCopy {
				blendConst(d[sp.x0:sp.x1], s[sp.x0:sp.x1], int32(gain))
			} else {
				blendAlphaGain(d[sp.x0:sp.x1], s[sp.x0:sp.x1], a[sp.x0:sp.x1], int32(gain))
			}
		}
	}
}

// blendPre computes pre + (d·inv + 127) >> 8; with pre rounded to
// nearest and this term biased down, the sum never exceeds 255.
func blendPre(d, pre, inv []byte) {
	pre, inv = pre[:len(d)], inv[:len(d)]
	i := 0
	// Four at a time: the loop overhead is as large as the arithmetic.
	for ; i+4 <= len(d); i += 4 {
		dd, pp, ii := d[i:i+4:i+4], pre[i:i+4:i+4], inv[i:i+4:i+4]
		dd[0] = pp[0] + byte((uint32(dd[0])*uint32(ii[0])+127)>>8)
		dd[1] = pp[1] + byte((uint32(dd[1])*uint32(ii[1])+127)>>8)
		dd[2] = pp[2] + byte((uint32(dd[2])*uint32(ii[2])+127)>>8)
		dd[3] = pp[3] + byte((uint32(dd[3])*uint32(ii[3])+127)>>8)
	}
	for ; i < len(d); i++ {
		d[i] = pre[i] + byte((uint32(d[i])*uint32(inv[i])+127)>>8)
	}
}

// The blend loops compute d + ((s-d)·A + 128) >> 8 with A in [0, 256]
// (alpha 255 maps to 256 so opaque is exact); the result always lies
// between d and s, so it never overflows a byte.

func blendAlphaGain(d, s, a []byte, gain int32) {
	s, a = s[:len(d)], a[:len(d)]
	for i := range d {
		al := int32(a[i])
		al += al >> 7
		al = (al*gain + 128) >> 8
		dv := int32(d[i])
		d[i] = byte(dv + ((int32(s[i])-dv)*al+128)>>8)
	}
}

func blendConst(d, s []byte, al int32) {
	s = s[:len(d)]
	for i := range d {
		dv := int32(d[i])
		d[i] = byte(dv + ((int32(s[i])-dv)*al+128)>>8)
	}
}

// checkFrame reports whether the card fits f and f's planes are complete.
func (c *Card) checkFrame(f *hw.Frame) error {
	if f == nil {
		return errors.New("overlay: nil frame")
	}
	if f.Width%2 != 0 || f.Height%2 != 0 || len(f.Y) < f.Width*f.Height ||
		len(f.U) < (f.Width/2)*(f.Height/2) || len(f.V) < (f.Width/2)*(f.Height/2) {
		return fmt.Errorf("overlay: malformed %d×%d I420 frame", f.Width, f.Height)
	}
	if !c.Rect.In(image.Rect(0, 0, f.Width, f.Height)) {
		return fmt.Errorf("overlay: card at %v does not fit a %d×%d frame", c.Rect, f.Width, f.Height)
	}
	return nil
}

// DrawOnto composites the fully shown card onto f at Rect, exactly as the
// compositor does once a transition has finished. Tests use it to build the
// frame a viewer should see.
func (c *Card) DrawOnto(f *hw.Frame) error {
	if err := c.checkFrame(f); err != nil {
		return err
	}
	c.blend(f, c.Rect.Min.Y, 256)
	return nil
}

// Mismatch measures how far the card region of f (for example a frame
// decoded from the stream) is from this card: the mean absolute difference
// of luma averaged over 4×4 blocks, taken over the card's fully opaque
// blocks (photo, badge, band, text cores), which do not depend on the
// video underneath. Block means ride out H.264 quantisation noise while
// still telling cards apart; see MatchThreshold.
func (c *Card) Mismatch(f *hw.Frame) (float64, error) {
	if err := c.checkFrame(f); err != nil {
		return 0, err
	}
	const b = 4
	var sum, blocks int
	for by := 0; by+b <= c.h; by += b {
	block:
		for bx := 0; bx+b <= c.w; bx += b {
			var cs, fs int
			for y := by; y < by+b; y++ {
				for x := bx; x < bx+b; x++ {
					if c.a[y*c.w+x] != 255 {
						continue block
					}
					cs += int(c.y[y*c.w+x])
					fs += int(f.Y[(c.Rect.Min.Y+y)*f.Width+c.Rect.Min.X+x])
				}
			}
			sum += max(cs-fs, fs-cs)
			blocks++
		}
	}
	if blocks == 0 {
		return 0, errors.New("overlay: card has no opaque area to compare")
	}
	return float64(sum) / float64(blocks*b*b), nil
}
