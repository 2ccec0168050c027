// Package qrscan reads the text of a QR code from a photo or a screenshot:
// a trainer enrols a box by photographing the QR on its phone page, on any
// phone, in any browser (WeChat's too), with no script on the page.
//
// Decoding is bounded before any pixel is decoded: the image's size comes
// from its header (image.DecodeConfig), and an image with more pixels than
// MaxPixels is refused, so a small file that claims to be huge cannot make
// the service allocate gigabytes.
package qrscan

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	_ "image/gif" // screenshots shared from some chat apps
	_ "image/jpeg"
	_ "image/png"

	"github.com/makiuchi-d/gozxing"
	qrreader "github.com/makiuchi-d/gozxing/qrcode"
	xdraw "golang.org/x/image/draw"
)

// Limits. A 50-megapixel photo is more than any phone camera takes by
// default (12–48 MP); decoded it is at most 200 MB of RGBA, briefly.
const (
	MaxPixels = 50_000_000
	// scanSide is the long side photos are first scaled down to: a QR
	// filling a tenth of the frame still has several pixels per module,
	// and the search is many times faster than at full size.
	scanSide = 1600
	// fullPixels bounds the second, full-size attempt (a QR small in a
	// big photo); above it the scaled attempt is the only one.
	fullPixels = 16_000_000
)

// Errors Decode returns (wrapped), so callers can say what went wrong in
// their own words.
var (
	// ErrNotImage: not a JPEG, PNG or GIF (or a broken one).
	ErrNotImage = errors.New("qrscan: not an image this service reads (JPEG, PNG or GIF)")
	// ErrHEIC: an iPhone's HEIC photo, which Go cannot decode.
	ErrHEIC = errors.New("qrscan: a HEIC photo")
	// ErrTooLarge: more than MaxPixels.
	ErrTooLarge = errors.New("qrscan: the image is too large")
	// ErrNoCode: an image, but no QR code was found in it.
	ErrNoCode = errors.New("qrscan: no QR code found")
)

// Decode returns the text of the QR code in an image.
func Decode(data []byte) (string, error) {
	if isHEIC(data) {
		return "", ErrHEIC
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return "", fmt.Errorf("%w: %s of %d×%d", ErrNotImage, format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return "", fmt.Errorf("%w: %d×%d pixels, at most %d", ErrTooLarge, cfg.Width, cfg.Height, MaxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrNotImage, format, err)
	}
	gray := toGray(img)
	for _, g := range attempts(gray) {
		if text, ok := decodeGray(g()); ok {
			return text, nil
		}
	}
	return "", fmt.Errorf("%w (%s %d×%d)", ErrNoCode, format, cfg.Width, cfg.Height)
}

// ladder are the long sides a picture is tried at, largest first. The
// library's grid sampling misses at some scales of a slightly turned
// code and not at others, so one size is not enough.
var ladder = []int{scanSide, 1200, 900, 700}

// attempts are the sizes to try g at, each made only when its turn comes:
// the common cases (a screenshot, a photo) first, full size (a code small
// in a big photo) late, and a small picture enlarged (finder patterns
// need several pixels a module).
func attempts(g *image.Gray) []func() *image.Gray {
	b := g.Bounds()
	long := max(b.Dx(), b.Dy())
	var out []func() *image.Gray
	if long <= scanSide {
		out = append(out, func() *image.Gray { return g })
	}
	for _, side := range ladder {
		if side < long {
			out = append(out, func() *image.Gray { return scale(g, side, long) })
		}
	}
	if long > scanSide && b.Dx()*b.Dy() <= fullPixels {
		out = append(out, func() *image.Gray { return g })
	}
	if long < scanSide/2 {
		out = append(out, func() *image.Gray { return scale(g, 2*long, long) })
	}
	return out
}

// decodeGray tries both of the library's binarizers: the hybrid one copes
// with uneven light, the global one with fine blur.
func decodeGray(g *image.Gray) (string, bool) {
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	src := gozxing.NewLuminanceSourceFromImage(g)
	for _, bin := range []gozxing.Binarizer{gozxing.NewHybridBinarizer(src), gozxing.NewGlobalHistgramBinarizer(src)} {
		bmp, err := gozxing.NewBinaryBitmap(bin)
		if err != nil {
			continue
		}
		if res, err := qrreader.NewQRCodeReader().Decode(bmp, hints); err == nil {
			return res.GetText(), true
		}
	}
	return "", false
}

func toGray(img image.Image) *image.Gray {
	if m, ok := img.(*image.Gray); ok {
		return m
	}
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	if m, ok := img.(*image.YCbCr); ok { // a JPEG: its luma is the grey picture already
		for y := range b.Dy() {
			i := m.YOffset(b.Min.X, b.Min.Y+y)
			copy(g.Pix[y*g.Stride:y*g.Stride+b.Dx()], m.Y[i:i+b.Dx()])
		}
		return g
	}
	draw.Draw(g, g.Bounds(), img, b.Min, draw.Src)
	return g
}

// scale resizes g so that its long side becomes side.
func scale(g *image.Gray, side, long int) *image.Gray {
	b := g.Bounds()
	w, h := max(1, b.Dx()*side/long), max(1, b.Dy()*side/long)
	dst := image.NewGray(image.Rect(0, 0, w, h))
	xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), g, b, xdraw.Src, nil)
	return dst
}

// isHEIC recognises an ISO media file of the HEIF family by its ftyp box.
func isHEIC(data []byte) bool {
	if len(data) < 12 || string(data[4:8]) != "ftyp" {
		return false
	}
	switch string(data[8:12]) {
	case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1", "avif":
		return true
	}
	return false
}
