package overlay

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"math"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/hw"
)

const frameStep = 40 * time.Millisecond // 25 fps

// background returns a busy I420 frame so blending mistakes show up.
func background(w, h int) *hw.Frame {
	f := hw.NewFrame(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			f.Y[y*w+x] = byte(16 + (x*7+y*3)%220)
		}
	}
	for y := 0; y < h/2; y++ {
		for x := 0; x < w/2; x++ {
			f.U[y*w/2+x] = byte(64 + (x+2*y)%128)
			f.V[y*w/2+x] = byte(200 - (3*x+y)%128)
		}
	}
	return f
}

func cloneFrame(f *hw.Frame) *hw.Frame {
	return &hw.Frame{Width: f.Width, Height: f.Height, PTS: f.PTS,
		Y: bytes.Clone(f.Y), U: bytes.Clone(f.U), V: bytes.Clone(f.V)}
}

func newDemoCompositor(t testing.TB, w, h int) *Compositor {
	t.Helper()
	return NewCompositor(newTestRenderer(t, w, h), demoCatalog(t), nil)
}

// settle applies frames on fresh copies of bg until any transition is
// over and returns the last composited frame.
func settle(c *Compositor, bg *hw.Frame, pts *time.Duration) *hw.Frame {
	var f *hw.Frame
	for i := 0; i < 15; i++ {
		*pts += frameStep
		f = cloneFrame(bg)
		f.PTS = *pts
		c.Apply(f)
	}
	return f
}

// cardDelta is the mean absolute luma difference from bg inside rect: 0
// when no card is drawn, growing as the card fades in.
func cardDelta(f, bg *hw.Frame, rect image.Rectangle) float64 {
	sum := 0
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			d := int(f.Y[y*f.Width+x]) - int(bg.Y[y*f.Width+x])
			sum += max(d, -d)
		}
	}
	return float64(sum) / float64(rect.Dx()*rect.Dy())
}

func TestCompositeMatchesCardAndTouchesNothingElse(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{720, 1280}, {1280, 720}} {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			c := newDemoCompositor(t, sz.w, sz.h)
			bg := background(sz.w, sz.h)
			var pts time.Duration
			if err := c.Select(1); err != nil {
				t.Fatal(err)
			}
			f := settle(c, bg, &pts)
			card, err := c.Card(1)
			if err != nil {
				t.Fatal(err)
			}
			savePreview(t, fmt.Sprintf("frame-%dx%d.png", sz.w, sz.h), frameImage(f))
			rect := c.CardRect(sz.w, sz.h)
			if card.Rect != rect {
				t.Fatalf("card rect %v, CardRect %v", card.Rect, rect)
			}
			cy, cu, cv, ca, cca := card.Planes()
			cw := rect.Dx()
			// Independent reference: textbook alpha blending in floating
			// point; integer blending may differ by rounding only.
			ref := func(src, dst, a byte) float64 {
				return (float64(src)*float64(a) + float64(dst)*(255-float64(a))) / 255
			}
			check := func(plane string, got, want []byte, stride int, r image.Rectangle, src, alpha []byte) {
				t.Helper()
				bad := 0
				for y := 0; y < len(got)/stride; y++ {
					for x := 0; x < stride; x++ {
						i := y*stride + x
						p := image.Pt(x, y)
						if !p.In(r) {
							if got[i] != want[i] {
								bad++
							}
							continue
						}
						j := (y-r.Min.Y)*r.Dx() + (x - r.Min.X)
						if d := math.Abs(float64(got[i]) - ref(src[j], want[i], alpha[j])); d > 1 {
							bad++
						}
					}
				}
				if bad > 0 {
					t.Errorf("%s: %d pixels differ from the expected blend or were touched outside the card", plane, bad)
				}
			}
			check("Y", f.Y, bg.Y, sz.w, rect, cy, ca)
			cr := image.Rect(rect.Min.X/2, rect.Min.Y/2, rect.Max.X/2, rect.Max.Y/2)
			check("U", f.U, bg.U, sz.w/2, cr, cu, cca)
			check("V", f.V, bg.V, sz.w/2, cr, cv, cca)
			if cw != rect.Dx() {
				t.Fatal("unreachable")
			}

			// DrawOnto reproduces the settled frame exactly.
			want := cloneFrame(bg)
			if err := card.DrawOnto(want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want.Y, f.Y) || !bytes.Equal(want.U, f.U) || !bytes.Equal(want.V, f.V) {
				t.Error("DrawOnto differs from the settled compositor output")
			}
		})
	}
}

func TestTransitionsProgress(t *testing.T) {
	c := newDemoCompositor(t, 720, 1280)
	bg := background(720, 1280)
	rect := c.CardRect(720, 1280)
	var pts time.Duration
	apply := func() *hw.Frame {
		pts += frameStep
		f := cloneFrame(bg)
		f.PTS = pts
		c.Apply(f)
		return f
	}
	if d := cardDelta(apply(), bg, rect); d != 0 {
		t.Fatalf("hidden compositor drew something: delta %v", d)
	}

	// Show: the card fades in over ~300 ms, monotonically, sliding up.
	c.Show()
	var deltas []float64
	var firstRows []int
	for i := 0; i < 12; i++ {
		f := apply()
		deltas = append(deltas, cardDelta(f, bg, rect.Union(rect.Add(image.Pt(0, 60))).Intersect(image.Rect(0, 0, 720, 1280))))
		firstRows = append(firstRows, firstChangedRow(f, bg))
	}
	t.Logf("show deltas %.1f", deltas)
	steps := int(TransitionDuration / frameStep)
	for i := 1; i < len(deltas); i++ {
		if i <= steps && deltas[i] <= deltas[i-1] {
			t.Errorf("show: delta did not grow at frame %d: %.2f → %.2f", i, deltas[i-1], deltas[i])
		}
		if i > steps+1 && deltas[i] != deltas[i-1] {
			t.Errorf("show: still changing at frame %d after %v", i, TransitionDuration)
		}
	}
	if deltas[0] <= 0 || deltas[0] > deltas[len(deltas)-1]/3 {
		t.Errorf("show did not start faint: first %.2f, final %.2f", deltas[0], deltas[len(deltas)-1])
	}
	if firstRows[0] <= rect.Min.Y || firstRows[len(firstRows)-1] != rect.Min.Y {
		t.Errorf("no slide: first changed rows %v, card top %d", firstRows, rect.Min.Y)
	}
	shown := deltas[len(deltas)-1]

	// Change: the old card leaves, the new one arrives, within ~300 ms.
	c.Next()
	if idx, vis := c.Current(); idx != 1 || !vis {
		t.Fatalf("Current after Next = %d, %v", idx, vis)
	}
	card0, _ := c.Card(0)
	card1, _ := c.Card(1)
	var low float64 = math.MaxFloat64
	for i := 0; i < 12; i++ {
		low = min(low, cardDelta(apply(), bg, rect))
	}
	if low > shown/2 {
		t.Errorf("change did not pass through a faded state: lowest delta %.2f vs shown %.2f", low, shown)
	}
	f := apply()
	m0, _ := card0.Mismatch(f)
	m1, _ := card1.Mismatch(f)
	if m1 != 0 || m0 < 20 {
		t.Errorf("after change: mismatch to new card %.2f, to old card %.2f", m1, m0)
	}

	// Hide: fades out monotonically and leaves the frame untouched.
	c.Hide()
	prev := cardDelta(apply(), bg, image.Rect(0, 0, 720, 1280))
	for i := 1; i < 12; i++ {
		d := cardDelta(apply(), bg, image.Rect(0, 0, 720, 1280))
		if d > prev {
			t.Errorf("hide: delta grew at frame %d: %.2f → %.2f", i, prev, d)
		}
		prev = d
	}
	if prev != 0 {
		t.Errorf("hidden card still drawn: delta %.3f", prev)
	}
	if _, vis := c.Current(); vis {
		t.Error("Current reports visible after Hide")
	}
}

// firstChangedRow is the topmost row where f differs from bg.
func firstChangedRow(f, bg *hw.Frame) int {
	for y := 0; y < f.Height; y++ {
		if !bytes.Equal(f.Y[y*f.Width:(y+1)*f.Width], bg.Y[y*f.Width:(y+1)*f.Width]) {
			return y
		}
	}
	return -1
}

func TestTransitionSurvivesPTSJumps(t *testing.T) {
	c := newDemoCompositor(t, 720, 1280)
	bg := background(720, 1280)
	rect := c.CardRect(720, 1280)
	c.Show()
	// PTS going backwards or jumping an hour must neither panic nor skip
	// the whole animation in one frame.
	var deltas []float64
	for _, pts := range []time.Duration{time.Hour, time.Hour - time.Second, 2 * time.Hour, 2*time.Hour + frameStep} {
		f := cloneFrame(bg)
		f.PTS = pts
		c.Apply(f)
		deltas = append(deltas, cardDelta(f, bg, rect))
	}
	if deltas[0] != 0 || deltas[1] != 0 || deltas[2] == 0 || deltas[3] <= deltas[2] {
		t.Errorf("deltas over PTS jumps = %.2f", deltas)
	}
}

func TestApplyIgnoresMismatchedFrames(t *testing.T) {
	c := newDemoCompositor(t, 720, 1280)
	c.Show()
	var pts time.Duration
	for _, f := range []*hw.Frame{
		background(1280, 720),
		{Width: 720, Height: 1280, Y: make([]byte, 10), U: make([]byte, 10), V: make([]byte, 10)},
		{Width: 720, Height: 1280},
	} {
		before := cloneFrame(f)
		for i := 0; i < 10; i++ {
			pts += frameStep
			f.PTS = pts
			c.Apply(f)
		}
		if !bytes.Equal(before.Y, f.Y) || !bytes.Equal(before.U, f.U) {
			t.Errorf("%d×%d frame was modified", f.Width, f.Height)
		}
	}
}

func TestEmptyCatalogAndBadSelection(t *testing.T) {
	c := NewCompositor(newTestRenderer(t, 720, 1280), &Catalog{}, nil)
	c.Show()
	c.Next()
	c.Prev()
	if err := c.Select(0); err == nil {
		t.Error("Select on empty catalogue: no error")
	}
	if idx, vis := c.Current(); idx != -1 || vis {
		t.Errorf("Current = %d, %v", idx, vis)
	}
	f := background(720, 1280)
	before := cloneFrame(f)
	c.Apply(f)
	if !bytes.Equal(before.Y, f.Y) {
		t.Error("empty catalogue drew something")
	}
	if _, err := c.Card(0); err == nil {
		t.Error("Card(0) on empty catalogue: no error")
	}

	c = newDemoCompositor(t, 720, 1280)
	for _, i := range []int{-1, 5, 99} {
		if err := c.Select(i); err == nil {
			t.Errorf("Select(%d): no error", i)
		}
	}
	if idx, vis := c.Current(); idx != 0 || vis {
		t.Errorf("bad Select changed state: %d, %v", idx, vis)
	}
	c.Prev()
	if idx, _ := c.Current(); idx != 4 {
		t.Errorf("Prev from 0 = %d, want wrap to 4", idx)
	}
}

func TestConcurrentControlsWhileLive(t *testing.T) {
	c := newDemoCompositor(t, 720, 1280)
	demo := demoCatalog(t)
	smaller := &Catalog{Products: demo.Products[:3]}
	bg := background(720, 1280)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	controls := []func(i int){
		func(int) { c.Next() },
		func(int) { c.Prev() },
		func(int) { c.Show() },
		func(i int) {
			if i%7 == 0 {
				c.Hide()
			}
		},
		func(i int) { _ = c.Select(i % 6) },
		func(int) { c.Current() },
		func(i int) {
			if i%20 == 0 {
				if i%40 == 0 {
					c.SetCatalog(smaller)
				} else {
					c.SetCatalog(demo)
				}
			}
		},
	}
	for _, ctl := range controls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60 && ctx.Err() == nil; i++ {
				ctl(i)
			}
		}()
	}
	f := cloneFrame(bg)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var pts time.Duration
	for frames := 0; ; frames++ {
		pts += frameStep
		f.PTS = pts
		copy(f.Y, bg.Y)
		c.Apply(f)
		select {
		case <-done:
			goto settled
		default:
		}
		if ctx.Err() != nil {
			t.Fatal("controls did not finish")
		}
	}
settled:
	c.SetCatalog(demo)
	if err := c.Select(2); err != nil {
		t.Fatal(err)
	}
	f = settle(c, bg, &pts)
	idx, diff := c.Identify(f)
	if idx != 2 || diff != 0 {
		t.Errorf("after the storm: visible card %d (mismatch %.2f), want 2", idx, diff)
	}
}

func TestApplyAllocatesNothing(t *testing.T) {
	c := newDemoCompositor(t, 720, 1280)
	f := background(720, 1280)
	c.Show()
	c.Apply(f) // settle allocation-free state
	for name, step := range map[string]time.Duration{"transition": time.Millisecond, "steady": frameStep} {
		allocs := testing.AllocsPerRun(50, func() {
			f.PTS += step
			c.Apply(f)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per frame", name, allocs)
		}
	}
}

// TestIdentifyAfterH264 round-trips composited frames through a real
// H.264 encoder and decoder (ffmpeg, libx264) and checks the helper that
// end-to-end tests use to tell which card a viewer sees.
func TestIdentifyAfterH264(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg not installed (make deps installs it)")
	}
	const w, h = 720, 1280
	c := newDemoCompositor(t, w, h)
	bg := background(w, h)
	var raw bytes.Buffer
	var pts time.Duration
	write := func(f *hw.Frame) { raw.Write(f.Y); raw.Write(f.U); raw.Write(f.V) }
	write(bg) // frame 0: no card
	for i := 0; i < 3; i++ {
		if err := c.Select(i * 2); err != nil { // cards 0, 2, 4
			t.Fatal(err)
		}
		write(settle(c, bg, &pts))
	}
	// As sent, and as a loaded box sends after stepping down (bitrate
	// adaptation: 640×360 landscape at ~315 kbit/s), decoded and scaled back
	// up to the card's size the way end-to-end tests compare it.
	for _, tc := range []struct {
		name     string
		enc, dec []string
	}{
		{"as sent", []string{"-b:v", "2500k"}, nil},
		{"stepped down", []string{"-vf", fmt.Sprintf("scale=%d:%d", w/2, h/2), "-b:v", "315k"},
			[]string{"-vf", fmt.Sprintf("scale=%d:%d:flags=bicubic", w, h)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			mp4 := filepath.Join(t.TempDir(), "cards.mp4")
			args := append([]string{"-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
				"-s", fmt.Sprintf("%dx%d", w, h), "-r", "25", "-i", "-",
				"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "1"}, tc.enc...)
			enc := exec.CommandContext(ctx, ffmpeg, append(args, mp4)...)
			enc.Stdin = bytes.NewReader(raw.Bytes())
			if out, err := enc.CombinedOutput(); err != nil {
				t.Fatalf("encode: %v\n%s", err, out)
			}
			args = append([]string{"-loglevel", "error", "-i", mp4}, tc.dec...)
			dec := exec.CommandContext(ctx, ffmpeg, append(args, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-")...)
			decoded, err := dec.Output()
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			size := w * h * 3 / 2
			if len(decoded) != 4*size {
				t.Fatalf("decoded %d bytes, want 4 frames", len(decoded))
			}
			for i, want := range []int{-1, 0, 2, 4} {
				d := decoded[i*size : (i+1)*size]
				f := &hw.Frame{Width: w, Height: h, Y: d[:w*h], U: d[w*h : w*h*5/4], V: d[w*h*5/4:]}
				got, diff := c.Identify(f)
				var all []float64
				for j := 0; j < 5; j++ {
					card, _ := c.Card(j)
					m, _ := card.Mismatch(f)
					all = append(all, m)
				}
				t.Logf("frame %d: identified card %d (mismatch %.2f; all %.1f)", i, got, diff, all)
				if got != want {
					t.Errorf("frame %d: identified card %d (mismatch %.2f), want %d", i, got, diff, want)
				}
			}
		})
	}
}

func BenchmarkComposite(b *testing.B) {
	for _, bc := range []struct {
		name string
		w, h int
		step time.Duration
	}{
		{"portrait720x1280", 720, 1280, frameStep},
		{"landscape1280x720", 1280, 720, frameStep},
		{"portrait720x1280_fading", 720, 1280, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newDemoCompositor(b, bc.w, bc.h)
			f := background(bc.w, bc.h)
			c.Show()
			var pts time.Duration
			if bc.step == 0 {
				// Hold the card mid-fade: every pixel takes the slow path.
				for i := 0; i < 4; i++ {
					pts += frameStep
					f.PTS = pts
					c.Apply(f)
				}
			} else {
				settle(c, f, &pts)
			}
			b.ReportAllocs()
			b.SetBytes(int64(c.CardRect(bc.w, bc.h).Dx() * c.CardRect(bc.w, bc.h).Dy() * 3 / 2))
			for b.Loop() {
				pts += bc.step
				f.PTS = pts
				c.Apply(f)
			}
		})
	}
}

// frameImage wraps an I420 frame for PNG previews.
func frameImage(f *hw.Frame) image.Image {
	return &image.YCbCr{Y: f.Y, Cb: f.U, Cr: f.V, YStride: f.Width, CStride: f.Width / 2,
		SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: image.Rect(0, 0, f.Width, f.Height)}
}
