package qrscan_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	qrcode "github.com/yeqown/go-qrcode/v2"

	"github.com/cunbo/cunbo/review/qrscan"
)

// enrol is a box's QR text as the box shows it (bundle.EnrolText).
const enrol = "cunbo-box:ebc3916eb78dd6a7d2c0616238e898e60793e0e2a6ff81040154158e50bb436c"

func TestDecode(t *testing.T) {
	qr4 := qrPNG(t, enrol, 4)
	shot, err := os.ReadFile(filepath.Join("testdata", "boxpage.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
		err  error
	}{
		{"png 2 px a module", qrPNG(t, enrol, 2), enrol, nil},
		{"png 4 px a module", qr4, enrol, nil},
		{"png 12 px a module", qrPNG(t, enrol, 12), enrol, nil},
		{"png 40 px a module (2.6k wide)", qrPNG(t, enrol, 40), enrol, nil},
		{"jpeg quality 8", reJPEG(t, qr4, 8), enrol, nil},
		{"photo: rotated, noisy, blurred, grey paper", ffmpegJPEG(t, qrPNG(t, enrol, 10),
			"pad=iw*2.2:ih*1.6:(ow-iw)/2:(oh-ih)/3:color=0x9a9690,rotate=0.12:fillcolor=0x8a8680,noise=alls=20:allf=t,boxblur=1,scale=iw*0.6:-2"), enrol, nil},
		// Chromium's screenshot of a simulated box's phone page at a
		// phone's size (412×915 CSS px at 2.625): the 🔧 盒子身份 card,
		// its fingerprint f502-dfeb-7eeb-8f45-2cce.
		{"screenshot of the box phone page", shot, enrol, nil},
		{"screenshot saved as jpeg", reJPEG(t, shot, 60), enrol, nil},
		// The box's page photographed with another phone: turned 3°
		// (the library's sampling misses this at some sizes), grainy.
		{"photo of the box page, turned 3°", ffmpegJPEG(t, shot, "rotate=0.05:fillcolor=0x706860,noise=alls=10:allf=t,scale=1200:-2"), enrol, nil},
		{"12-megapixel photo of the box page", ffmpegJPEG(t, shot,
			"pad=3203:2402:(ow-iw)/2:0:color=0x706860,scale=4000:3000,rotate=0.03:fillcolor=0x706860,noise=alls=12:allf=t"), enrol, nil},
		{"a console URL in the QR", qrPNG(t, "http://10.0.0.2:8090/console/boxes/enrol?key="+enrol, 4), "http://10.0.0.2:8090/console/boxes/enrol?key=" + enrol, nil},
		{"picture without a QR", noQR(t), "", qrscan.ErrNoCode},
		{"text, not an image", []byte("cunbo-box:ebc3916e is my key"), "", qrscan.ErrNotImage},
		{"empty", nil, "", qrscan.ErrNotImage},
		{"truncated png", qr4[:len(qr4)/2], "", qrscan.ErrNotImage},
		{"png header of 100000×100000", hugePNG(100000, 100000), "", qrscan.ErrTooLarge},
		{"iPhone HEIC", heic(), "", qrscan.ErrHEIC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			got, err := qrscan.Decode(tc.data)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Decode = %q, %v; want %v", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Decode = %q, %v; want %q", got, err, tc.want)
			}
			t.Logf("decoded in %v", time.Since(start).Round(time.Millisecond))
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(qrPNG(f, enrol, 2))
	f.Add(reJPEG(f, qrPNG(f, enrol, 2), 30))
	f.Add(hugePNG(9000, 9000))
	f.Add(heic())
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		text, err := qrscan.Decode(data)
		if err == nil && text == "" {
			t.Fatal("no error and no text")
		}
		if err != nil && text != "" {
			t.Fatalf("error %v with text %q", err, text)
		}
	})
}

// matrix collects the box's library's QR matrix, to be drawn as pixels.
type matrix struct{ m qrcode.Matrix }

func (w *matrix) Write(m qrcode.Matrix) error { w.m = m; return nil }
func (w *matrix) Close() error                { return nil }

// qrPNG draws text as the box's library encodes it (error correction M,
// as firmware/provision.QRSVG) with px pixels a module and a quiet zone
// of four modules.
func qrPNG(t testing.TB, text string, px int) []byte {
	t.Helper()
	q, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		t.Fatal(err)
	}
	var w matrix
	if err := q.Save(&w); err != nil {
		t.Fatal(err)
	}
	n := w.m.Width() + 8
	img := image.NewGray(image.Rect(0, 0, n*px, n*px))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	w.m.Iterate(qrcode.IterDirection_ROW, func(x, y int, v qrcode.QRValue) {
		if !v.IsSet() {
			return
		}
		for dy := range px {
			for dx := range px {
				img.SetGray((x+4)*px+dx, (y+4)*px+dy, color.Gray{})
			}
		}
	})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func reJPEG(t testing.TB, data []byte, quality int) []byte {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ffmpegJPEG makes a phone photo of a picture with ffmpeg's filters vf
// (turned, blurred, grainy, bigger or smaller) saved as a JPEG.
func ffmpegJPEG(t *testing.T, pic []byte, vf string) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.png"), filepath.Join(dir, "photo.jpg")
	if err := os.WriteFile(in, pic, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", in, "-vf", vf, "-q:v", "6", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noQR is a picture of something else: a gradient with bars.
func noQR(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			v := uint8(x * 255 / 640)
			if (x/40)%2 == 0 {
				v = 255 - v
			}
			img.Set(x, y, color.RGBA{R: v, G: uint8(y / 2), B: 128, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hugePNG is a valid PNG signature and header claiming w×h pixels, with no
// pixels behind it.
func hugePNG(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	b = binary.BigEndian.AppendUint32(b, 13)
	chunk := append([]byte("IHDR"), ihdr...)
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

// heic is the start of an iPhone photo: an ISO media ftyp box.
func heic() []byte {
	return append([]byte{0, 0, 0, 0x18}, []byte("ftypheic\x00\x00\x00\x00mif1heic")...)
}
