package overlay

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

var previewDir = flag.String("overlay.preview", "", "write rendered cards and composited frames as PNG into this folder")

func newTestRenderer(t testing.TB, w, h int) *Renderer {
	t.Helper()
	r, err := NewRenderer(RenderConfig{FrameWidth: w, FrameHeight: h})
	if err != nil {
		t.Fatalf("NewRenderer: %v (CI installs fonts-noto-cjk)", err)
	}
	return r
}

func demoCatalog(t testing.TB) *Catalog {
	t.Helper()
	cat, err := DemoCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func savePreview(t *testing.T, name string, img image.Image) {
	if *previewDir == "" {
		return
	}
	f, err := os.Create(filepath.Join(*previewDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func TestRenderDemoCards(t *testing.T) {
	sizes := []struct {
		name string
		w, h int
	}{{"portrait", 720, 1280}, {"landscape", 1280, 720}}
	cat := demoCatalog(t)
	for _, sz := range sizes {
		t.Run(sz.name, func(t *testing.T) {
			r := newTestRenderer(t, sz.w, sz.h)
			if !strings.Contains(r.FontFamily(), "SC") {
				t.Errorf("font family %q, want the Simplified Chinese face", r.FontFamily())
			}
			rect := r.CardRect()
			if !rect.In(image.Rect(0, 0, sz.w, sz.h)) || rect.Min.X%2 != 0 || rect.Min.Y%2 != 0 || rect.Dx()%2 != 0 || rect.Dy()%2 != 0 {
				t.Fatalf("card rect %v not an even rectangle inside the frame", rect)
			}
			if sz.h > sz.w && (rect.Dx() != 640 || rect.Dy() != 360) {
				t.Errorf("portrait card %v, want 640×360", rect.Size())
			}
			for i := range cat.Products {
				p := &cat.Products[i]
				card := r.Render(p)
				savePreview(t, fmt.Sprintf("card-%s-%d.png", sz.name, i), card.RGBA)
				roles := map[string]TextRun{}
				for _, run := range card.Texts {
					roles[run.Role] = run
					if run.Bounds.Empty() || !run.Bounds.In(card.RGBA.Bounds()) {
						t.Errorf("%s %s: ink bounds %v outside card", p.Name, run.Role, run.Bounds)
						continue
					}
					// Portrait output is watched on phones: every piece of
					// text must be at least 28 px tall, measured on the
					// rendered glyphs. Han characters set the line height;
					// pure digits are shorter by design only in the price,
					// which is far larger anyway.
					if sz.h > sz.w && (hasHan(run.Text) || run.Role == "price") && run.Bounds.Dy() < 28 {
						t.Errorf("%s %s %q: glyphs %d px tall, want ≥ 28", p.Name, run.Role, run.Text, run.Bounds.Dy())
					}
					// Text pixels exist: the ink box is not the plain
					// background around it.
					if inkPixels(card.RGBA, run.Bounds, run.Role) < run.Bounds.Dx()*run.Bounds.Dy()/20 {
						t.Errorf("%s %s: almost no text pixels in %v", p.Name, run.Role, run.Bounds)
					}
				}
				for _, role := range []string{"name", "unit", "price", "link", "tagline"} {
					if _, ok := roles[role]; !ok {
						t.Errorf("%s: no %s text on the card", p.Name, role)
					}
				}
				if price := roles["price"]; sz.h > sz.w && price.Bounds.Dy() < 2*roles["unit"].Bounds.Dy()*3/4 {
					t.Errorf("%s: price %v is not large type next to unit %v", p.Name, price.Bounds, roles["unit"].Bounds)
				}
				for _, a := range roles {
					for _, b := range roles {
						if a.Role < b.Role && a.Bounds.Overlaps(b.Bounds) && a.Role != "link" && b.Role != "link" {
							t.Errorf("%s: %s %v overlaps %s %v", p.Name, a.Role, a.Bounds, b.Role, b.Bounds)
						}
					}
				}
				// Corners are rounded (transparent), the panel is
				// translucent, the photo is opaque.
				if a := card.RGBA.RGBAAt(0, 0).A; a != 0 {
					t.Errorf("corner alpha %d, want 0", a)
				}
				mid := card.RGBA.RGBAAt(rect.Dx()-8, rect.Dy()/3)
				if mid.A == 0 || mid.A == 255 {
					t.Errorf("panel alpha %d, want translucent", mid.A)
				}
				ps := rect.Dy() / 3
				if a := card.RGBA.RGBAAt(ps, ps).A; a != 255 {
					t.Errorf("photo alpha %d, want opaque", a)
				}
			}
		})
	}
}

// inkPixels counts the opaque pixels in r painted in the text colour of
// role: glyph cores are drawn fully opaque over the translucent panel.
func inkPixels(img *image.RGBA, r image.Rectangle, role string) int {
	want := map[string]color.NRGBA{
		"name": paintName, "unit": paintUnit, "price": paintPrice, "link": paintBadgeText,
		"tagline": paintTagline, "initial": paintGoldLight,
	}[role]
	near := func(a, b uint8) bool { return a-b < 3 || b-a < 3 }
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := img.RGBAAt(x, y)
			if c.A == 255 && near(c.R, want.R) && near(c.G, want.G) && near(c.B, want.B) {
				n++
			}
		}
	}
	return n
}

func TestRenderWithoutPhotoOrOptionalFields(t *testing.T) {
	r := newTestRenderer(t, 720, 1280)
	p := &Product{Name: "这是一个名字特别特别特别长的商品用来测试换行和省略号", PriceFen: 123456}
	card := r.Render(p)
	savePreview(t, "card-nophoto.png", card.RGBA)
	var names []TextRun
	for _, run := range card.Texts {
		switch run.Role {
		case "name":
			names = append(names, run)
		case "link", "tagline", "unit":
			t.Errorf("unexpected %s text %q", run.Role, run.Text)
		}
		if run.Bounds.Max.X > card.RGBA.Bounds().Dx()-r.layout.pad/2 {
			t.Errorf("%s %q runs off the card: %v", run.Role, run.Text, run.Bounds)
		}
	}
	if len(names) != 2 || !strings.HasSuffix(names[1].Text, "…") {
		t.Errorf("long name not wrapped to two lines with an ellipsis: %+v", names)
	}
	// The placeholder tile carries the first character of the name.
	found := false
	for _, run := range card.Texts {
		if run.Role == "initial" && run.Text == "这" {
			found = true
		}
	}
	if !found {
		t.Error("no initial on the photo placeholder")
	}
}

func TestNewRendererErrors(t *testing.T) {
	dir := t.TempDir()
	notFont := filepath.Join(dir, "font.ttc")
	if err := os.WriteFile(notFont, []byte("definitely not a font"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     RenderConfig
		wantErr string
	}{
		{"missing font", RenderConfig{FontPath: filepath.Join(dir, "nope.ttc"), FrameWidth: 720, FrameHeight: 1280}, "fonts-noto-cjk"},
		{"not a font", RenderConfig{FontPath: notFont, FrameWidth: 720, FrameHeight: 1280}, notFont},
		{"odd frame", RenderConfig{FrameWidth: 721, FrameHeight: 1280}, "frame size"},
		{"tiny frame", RenderConfig{FrameWidth: 64, FrameHeight: 64}, "frame size"},
		{"bad matrix", RenderConfig{FrameWidth: 720, FrameHeight: 1280, Matrix: 7}, "matrix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRenderer(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkRenderCard(b *testing.B) {
	r := newTestRenderer(b, 720, 1280)
	cat := demoCatalog(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Render(&cat.Products[i%cat.Len()])
	}
}
