package overlay

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// DefaultFontPath is where Debian and Raspberry Pi OS install the bold Noto
// Sans CJK collection (package fonts-noto-cjk).
const DefaultFontPath = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"

// ColorMatrix selects the RGB→YCbCr conversion used for the card. Both
// produce limited ("TV") range, which is what the encoder signals.
type ColorMatrix int

const (
	// BT709 is the HD matrix that players assume for 720p and larger.
	BT709 ColorMatrix = iota
	// BT601 is the SD matrix.
	BT601
)

// RenderConfig configures a Renderer.
type RenderConfig struct {
	// FontPath is a TTF, OTF, TTC or OTC file with CJK glyphs; empty means
	// DefaultFontPath. In a collection the Simplified Chinese face is used.
	FontPath string
	// FrameWidth and FrameHeight are the output size; the card's size and
	// position are chosen for it (portrait 720×1280 and landscape 1280×720
	// are the designed-for cases).
	FrameWidth, FrameHeight int
	Matrix                  ColorMatrix
}

// Renderer draws product cards for one output size. It is safe for
// concurrent use.
type Renderer struct {
	cfg    RenderConfig
	layout layout
	family string

	mu sync.Mutex // font faces keep glyph caches and are not goroutine-safe
	f  *opentype.Font

	nameFace, unitFace, badgeFace, taglineFace, yenFace, initialFace font.Face
	priceFaces                                                       []font.Face
}

// Warm, local-brand palette: cream paper, chili red, gold.
var (
	paintPanelTop    = color.NRGBA{255, 250, 240, 236}
	paintPanelBottom = color.NRGBA{252, 238, 214, 236}
	paintBandLeft    = color.NRGBA{214, 48, 33, 255}
	paintBandRight   = color.NRGBA{176, 26, 22, 255}
	paintGoldLight   = color.NRGBA{250, 206, 96, 255}
	paintGoldDark    = color.NRGBA{226, 164, 38, 255}
	paintName        = color.NRGBA{59, 35, 20, 255}
	paintUnit        = color.NRGBA{122, 92, 69, 255}
	paintPrice       = color.NRGBA{208, 39, 29, 255}
	paintBadgeText   = color.NRGBA{150, 24, 18, 255}
	paintTagline     = color.NRGBA{255, 241, 201, 255}
	paintTileTop     = color.NRGBA{200, 46, 32, 255}
	paintTileBottom  = color.NRGBA{140, 20, 16, 255}
)

// NewRenderer loads the font and prepares faces for the output size.
func NewRenderer(cfg RenderConfig) (*Renderer, error) {
	if cfg.FrameWidth < 160 || cfg.FrameHeight < 160 || cfg.FrameWidth > 7680 || cfg.FrameHeight > 7680 ||
		cfg.FrameWidth%2 != 0 || cfg.FrameHeight%2 != 0 {
		return nil, fmt.Errorf("overlay: unsupported frame size %d×%d (need even sizes from 160 to 7680)", cfg.FrameWidth, cfg.FrameHeight)
	}
	if cfg.Matrix != BT709 && cfg.Matrix != BT601 {
		return nil, fmt.Errorf("overlay: unknown colour matrix %d", cfg.Matrix)
	}
	if cfg.FontPath == "" {
		cfg.FontPath = DefaultFontPath
	}
	data, err := os.ReadFile(cfg.FontPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("overlay: 找不到中文字体 %s，请安装 fonts-noto-cjk (font not found): %w", cfg.FontPath, err)
		}
		return nil, fmt.Errorf("overlay: 无法读取字体 %s: %w", cfg.FontPath, err)
	}
	f, family, err := pickCJKFont(data)
	if err != nil {
		return nil, fmt.Errorf("overlay: 字体文件 %s 无法使用: %w", cfg.FontPath, err)
	}
	r := &Renderer{cfg: cfg, layout: newLayout(cfg.FrameWidth, cfg.FrameHeight), f: f, family: family}
	l := r.layout
	face := func(size float64) font.Face {
		if err != nil {
			return nil
		}
		var fc font.Face
		fc, err = opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
		return fc
	}
	r.nameFace = face(l.nameSize)
	r.unitFace = face(l.unitSize)
	r.badgeFace = face(l.badgeSize)
	r.taglineFace = face(l.taglineSize)
	r.yenFace = face(l.yenSize)
	r.initialFace = face(150 * l.scale)
	for _, s := range l.priceSizes {
		r.priceFaces = append(r.priceFaces, face(s))
	}
	if err != nil {
		return nil, fmt.Errorf("overlay: 字体 %s 无法使用: %w", cfg.FontPath, err)
	}
	if _, ok := r.nameFace.GlyphAdvance('辣'); !ok {
		return nil, fmt.Errorf("overlay: 字体 %s 没有中文字形 (font has no CJK glyphs)", cfg.FontPath)
	}
	return r, nil
}

// pickCJKFont returns the Simplified Chinese face of a collection (Noto
// CJK collections put the Japanese face first), or the only face of a
// single font file.
func pickCJKFont(data []byte) (*opentype.Font, string, error) {
	coll, err := opentype.ParseCollection(data)
	if err != nil {
		return nil, "", err
	}
	var buf sfnt.Buffer
	var first *opentype.Font
	var firstName string
	for i := 0; i < coll.NumFonts(); i++ {
		f, err := coll.Font(i)
		if err != nil {
			continue
		}
		name, _ := f.Name(&buf, sfnt.NameIDFamily)
		if first == nil {
			first, firstName = f, name
		}
		if strings.HasSuffix(name, " SC") || strings.Contains(name, "SC ") || strings.Contains(name, "Simplified") {
			return f, name, nil
		}
	}
	if first == nil {
		return nil, "", errors.New("no usable font in the file")
	}
	return first, firstName, nil
}

// FontFamily is the family name of the face in use, e.g. "Noto Sans CJK SC".
func (r *Renderer) FontFamily() string { return r.family }

// CardRect is where cards sit in the renderer's output frame.
func (r *Renderer) CardRect() image.Rectangle { return r.layout.rect }

// TextRun is one piece of text on a rendered card with the bounds of its
// rendered glyphs (ink), in card coordinates.
type TextRun struct {
	Role   string // "name", "unit", "price", "link", "tagline" or "initial"
	Text   string
	Bounds image.Rectangle
}

// Render draws the card for p: RGBA once, then converted once to I420 plus
// alpha so compositing each frame is pure blending.
func (r *Renderer) Render(p *Product) *Card {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.layout
	cw, ch := l.rect.Dx(), l.rect.Dy()
	img := image.NewRGBA(image.Rect(0, 0, cw, ch))
	scratch := image.NewAlpha(img.Bounds())
	var runs []TextRun
	text := func(role string, face font.Face, s string, x, baseline int, c color.NRGBA) {
		if s == "" {
			return
		}
		b := drawText(img, scratch, face, s, x, baseline, c)
		runs = append(runs, TextRun{Role: role, Text: s, Bounds: b})
	}

	bandTop := ch
	if p.Tagline != "" {
		bandTop = ch - l.bandHeight
	}
	// Panel: cream paper above, red tagline band below, a gold rule
	// between, all inside one rounded shape.
	rule := max(2, int(math.Round(3*l.scale)))
	fillRoundRect(img, img.Bounds(), float64(l.radius), func(x, y int) color.NRGBA {
		switch {
		case y >= bandTop:
			return mix(paintBandLeft, paintBandRight, float64(x)/float64(cw))
		case y >= bandTop-rule && bandTop < ch:
			return paintGoldDark
		}
		return mix(paintPanelTop, paintPanelBottom, float64(y)/float64(ch))
	})

	// Photo (or a tile with the product's first character), square.
	ps := bandTop - 2*l.pad
	if bandTop == ch {
		ps = ch - 2*l.pad
	}
	photoRect := image.Rect(l.pad, l.pad, l.pad+ps, l.pad+ps)
	if p.Photo != nil {
		drawPhoto(img, photoRect, p.Photo, float64(l.photoRadius))
	} else {
		fillRoundRect(img, photoRect, float64(l.photoRadius), func(x, y int) color.NRGBA {
			return mix(paintTileTop, paintTileBottom, float64(y-photoRect.Min.Y)/float64(ps))
		})
		first, _ := utf8.DecodeRuneInString(p.Name)
		if first != utf8.RuneError {
			s := string(first)
			w := font.MeasureString(r.initialFace, s).Round()
			m := r.initialFace.Metrics()
			baseline := photoRect.Min.Y + (ps+(m.Ascent-m.Descent).Round())/2
			text("initial", r.initialFace, s, photoRect.Min.X+(ps-w)/2, baseline, paintGoldLight)
		}
	}

	// Link badge: a gold pill over the photo's top-left corner.
	if lt := p.LinkText(); lt != "" {
		tw := font.MeasureString(r.badgeFace, lt).Round()
		inset := l.photoRadius / 2
		br := image.Rect(photoRect.Min.X+inset, photoRect.Min.Y+inset,
			photoRect.Min.X+inset+tw+2*l.badgePadX, photoRect.Min.Y+inset+l.badgeHeight)
		fillRoundRect(img, br, float64(l.badgeHeight)/2, func(x, y int) color.NRGBA {
			return mix(paintGoldLight, paintGoldDark, float64(y-br.Min.Y)/float64(br.Dy()))
		})
		text("link", r.badgeFace, lt, br.Min.X+l.badgePadX, centredBaseline(r.badgeFace, br.Min.Y, br.Dy()), paintBadgeText)
	}

	// Text column: name (up to two lines) and unit from the top, price
	// anchored at the bottom.
	tx := photoRect.Max.X + l.gap
	tw := cw - l.pad - tx
	nm := r.nameFace.Metrics()
	nameLine := nm.Height.Ceil()
	y := l.pad + nm.Ascent.Ceil()
	for _, line := range wrapLines(r.nameFace, p.Name, tw, 2) {
		text("name", r.nameFace, line, tx, y, paintName)
		y += nameLine
	}
	um := r.unitFace.Metrics()
	if p.Unit != "" {
		y += um.Ascent.Ceil() - nm.Ascent.Ceil() + int(math.Round(6*l.scale))
		text("unit", r.unitFace, ellipsize(r.unitFace, p.Unit, tw), tx, y, paintUnit)
	}
	priceBaseline := photoRect.Max.Y - int(math.Round(4*l.scale))
	yen, amount := "¥", formatFen(p.PriceFen)
	yenW := font.MeasureString(r.yenFace, yen).Ceil() + int(math.Round(2*l.scale))
	pf := r.priceFaces[len(r.priceFaces)-1]
	for _, f := range r.priceFaces {
		if yenW+font.MeasureString(f, amount).Ceil() <= tw {
			pf = f
			break
		}
	}
	yb := drawText(img, scratch, r.yenFace, yen, tx, priceBaseline, paintPrice)
	ab := drawText(img, scratch, pf, ellipsize(pf, amount, tw-yenW), tx+yenW, priceBaseline, paintPrice)
	runs = append(runs, TextRun{Role: "price", Text: p.PriceText(), Bounds: yb.Union(ab)})

	if p.Tagline != "" {
		line := ellipsize(r.taglineFace, p.Tagline, cw-2*l.pad-l.radius/2)
		text("tagline", r.taglineFace, line, l.pad+l.radius/4, centredBaseline(r.taglineFace, bandTop, ch-bandTop), paintTagline)
	}

	return newCard(img, l.rect, runs, r.cfg.Matrix)
}

// drawText draws s in colour c with its left edge at x and baseline at y,
// returning the bounds of the pixels the glyphs actually covered. The text
// goes through an alpha mask first so the ink is measured, not estimated.
func drawText(dst *image.RGBA, scratch *image.Alpha, face font.Face, s string, x, y int, c color.NRGBA) image.Rectangle {
	d := font.Drawer{Dst: scratch, Src: image.Opaque, Face: face, Dot: fixed.P(x, y)}
	box, _ := d.BoundString(s)
	area := image.Rect(box.Min.X.Floor(), box.Min.Y.Floor(), box.Max.X.Ceil(), box.Max.Y.Ceil()).Intersect(scratch.Bounds())
	d.DrawString(s)
	ink := image.Rectangle{}
	for yy := area.Min.Y; yy < area.Max.Y; yy++ {
		row := scratch.Pix[scratch.PixOffset(area.Min.X, yy):scratch.PixOffset(area.Max.X, yy)]
		for i, a := range row {
			if a != 0 {
				ink = ink.Union(image.Rect(area.Min.X+i, yy, area.Min.X+i+1, yy+1))
			}
		}
	}
	draw.DrawMask(dst, area, image.NewUniform(c), image.Point{}, scratch, area.Min, draw.Over)
	for yy := area.Min.Y; yy < area.Max.Y; yy++ {
		clear(scratch.Pix[scratch.PixOffset(area.Min.X, yy):scratch.PixOffset(area.Max.X, yy)])
	}
	return ink
}

// centredBaseline is the baseline that centres a line of face vertically
// in a box of height h starting at top.
func centredBaseline(face font.Face, top, h int) int {
	m := face.Metrics()
	return top + (h+(m.CapHeight).Round())/2
}

// ellipsize shortens s with "…" until it fits maxW pixels.
func ellipsize(face font.Face, s string, maxW int) string {
	if font.MeasureString(face, s).Ceil() <= maxW {
		return s
	}
	rs := []rune(s)
	for n := len(rs) - 1; n > 0; n-- {
		t := strings.TrimSpace(string(rs[:n])) + "…"
		if font.MeasureString(face, t).Ceil() <= maxW {
			return t
		}
	}
	return "…"
}

// wrapLines breaks s into at most maxLines lines of maxW pixels, breaking
// between any two characters (Chinese has no spaces) and ellipsizing the
// last line.
func wrapLines(face font.Face, s string, maxW, maxLines int) []string {
	var lines []string
	rs := []rune(s)
	for len(rs) > 0 && len(lines) < maxLines-1 {
		if font.MeasureString(face, string(rs)).Ceil() <= maxW {
			break
		}
		n := 1
		for n < len(rs) && font.MeasureString(face, string(rs[:n+1])).Ceil() <= maxW {
			n++
		}
		if len(lines) == maxLines-2 {
			// Last break: balance the two lines instead of leaving a
			// lone character ("辣椒" / "酱") on the second.
			for k := (len(rs) + 1) / 2; k < n; k++ {
				if font.MeasureString(face, string(rs[k:])).Ceil() <= maxW {
					n = k
					break
				}
			}
		}
		lines = append(lines, strings.TrimSpace(string(rs[:n])))
		rs = []rune(strings.TrimSpace(string(rs[n:])))
	}
	if len(rs) > 0 {
		lines = append(lines, ellipsize(face, string(rs), maxW))
	}
	return lines
}

// drawPhoto scales and centre-crops src to fill r, with rounded corners.
func drawPhoto(dst *image.RGBA, r image.Rectangle, src image.Image, radius float64) {
	sb := src.Bounds()
	// Largest centred crop of src with r's aspect ratio.
	cw, ch := sb.Dx(), sb.Dy()
	if cw*r.Dy() > ch*r.Dx() {
		cw = ch * r.Dx() / r.Dy()
	} else {
		ch = cw * r.Dy() / r.Dx()
	}
	crop := image.Rect(0, 0, max(1, cw), max(1, ch)).Add(sb.Min).Add(image.Pt((sb.Dx()-cw)/2, (sb.Dy()-ch)/2))
	tile := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.CatmullRom.Scale(tile, tile.Bounds(), src, crop, draw.Src, nil)
	fillRoundRect(dst, r, radius, func(x, y int) color.NRGBA {
		o := tile.PixOffset(x-r.Min.X, y-r.Min.Y)
		px := tile.Pix[o : o+4 : o+4]
		// Photos are drawn opaque: a translucent photo reads as a mistake.
		if px[3] == 255 {
			return color.NRGBA{px[0], px[1], px[2], 255}
		}
		if px[3] == 0 {
			return color.NRGBA{255, 255, 255, 255}
		}
		a := uint32(px[3])
		// Flatten transparent PNGs onto white.
		f := func(v uint8) uint8 { return uint8(uint32(v) + (255 - a)) }
		return color.NRGBA{f(px[0]), f(px[1]), f(px[2]), 255}
	})
}

// fillRoundRect composites shade(x, y) over dst inside r with anti-aliased
// rounded corners of the given radius.
func fillRoundRect(dst *image.RGBA, r image.Rectangle, radius float64, shade func(x, y int) color.NRGBA) {
	r = r.Intersect(dst.Bounds())
	if r.Empty() {
		return
	}
	radius = min(radius, float64(min(r.Dx(), r.Dy()))/2)
	cx, cy := float64(r.Min.X+r.Max.X)/2, float64(r.Min.Y+r.Max.Y)/2
	hx, hy := float64(r.Dx())/2-radius, float64(r.Dy())/2-radius
	for y := r.Min.Y; y < r.Max.Y; y++ {
		qy := math.Abs(float64(y)+0.5-cy) - hy
		for x := r.Min.X; x < r.Max.X; x++ {
			cov := 255
			// r is pixel-aligned, so only the corner squares are partly
			// covered: there, use the distance to the corner's circle.
			if qx := math.Abs(float64(x)+0.5-cx) - hx; qx > 0 && qy > 0 {
				cov = int(math.Min(math.Max(radius+0.5-math.Sqrt(qx*qx+qy*qy), 0), 1)*255 + 0.5)
				if cov == 0 {
					continue
				}
			}
			over(dst, x, y, shade(x, y), cov)
		}
	}
}

// over composites the non-premultiplied colour c, scaled by coverage
// (0…255), over the premultiplied pixel at (x, y).
func over(dst *image.RGBA, x, y int, c color.NRGBA, coverage int) {
	o := dst.PixOffset(x, y)
	p := dst.Pix[o : o+4 : o+4]
	sa := (int(c.A)*coverage + 127) / 255
	if sa == 255 {
		p[0], p[1], p[2], p[3] = c.R, c.G, c.B, 255
		return
	}
	inv := 255 - sa
	p[0] = uint8((int(c.R)*sa + int(p[0])*inv + 127) / 255)
	p[1] = uint8((int(c.G)*sa + int(p[1])*inv + 127) / 255)
	p[2] = uint8((int(c.B)*sa + int(p[2])*inv + 127) / 255)
	p[3] = uint8((255*sa + int(p[3])*inv + 127) / 255)
}

// mix interpolates two colours; t is clamped to [0, 1].
func mix(a, b color.NRGBA, t float64) color.NRGBA {
	ti := int(math.Min(math.Max(t, 0), 1)*256 + 0.5)
	l := func(x, y uint8) uint8 { return uint8(int(x) + ((int(y)-int(x))*ti+128)>>8) }
	return color.NRGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), l(a.A, b.A)}
}
