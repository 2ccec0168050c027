package provision

import (
	"encoding/base64"
	"fmt"
	"strings"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// QRSVG draws text as a QR code in SVG, one square per dark module with a
// quiet zone of four. The library's own writers pull in image packages the
// box does not need; its matrix is all the page wants.
func QRSVG(text string) (string, error) {
	q, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return "", fmt.Errorf("provision: qr: %w", err)
	}
	var w svgWriter
	if err := q.Save(&w); err != nil {
		return "", fmt.Errorf("provision: qr: %w", err)
	}
	return w.b.String(), nil
}

// QRDataURI is QRSVG as a data: URI for an <img> (the page's CSP allows
// data: images and nothing from elsewhere).
func QRDataURI(text string) (string, error) {
	svg, err := QRSVG(text)
	if err != nil {
		return "", err
	}
	return "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(svg)), nil
}

type svgWriter struct{ b strings.Builder }

const quiet = 4

func (w *svgWriter) Write(m qrcode.Matrix) error {
	size := m.Width() + 2*quiet
	fmt.Fprintf(&w.b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, size, size)
	fmt.Fprintf(&w.b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, size, size)
	m.Iterate(qrcode.IterDirection_ROW, func(x, y int, v qrcode.QRValue) {
		if v.IsSet() {
			fmt.Fprintf(&w.b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
		}
	})
	w.b.WriteString(`"/></svg>`)
	return nil
}

func (w *svgWriter) Close() error { return nil }
