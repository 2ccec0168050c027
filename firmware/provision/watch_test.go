package provision

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	qrreader "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/hw"
)

// gate is the box's idle state, switched by the test.
type gate struct {
	mu   sync.Mutex
	idle bool
	ch   chan struct{} // closed when idle
}

func newGate(idle bool) *gate {
	g := &gate{ch: make(chan struct{})}
	g.set(idle)
	return g
}

func (g *gate) set(idle bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if idle && !g.idle {
		close(g.ch)
	} else if !idle && g.idle {
		g.ch = make(chan struct{})
	}
	g.idle = idle
}

func (g *gate) WaitIdle(ctx context.Context) error {
	g.mu.Lock()
	ch := g.ch
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type leds struct {
	mu      sync.Mutex
	flashed []string
}

func (l *leds) Flash(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flashed = append(l.flashed, name)
	return nil
}

func (l *leds) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.flashed...)
}

type rig struct {
	o       *org
	store   *Store
	stick   string
	gate    *gate
	led     *leds
	applied chan Version
	w       *Watcher
}

func newRig(t *testing.T, idle bool) *rig {
	t.Helper()
	r := &rig{o: newOrg(t), store: openStore(t, t.TempDir()), stick: t.TempDir(), gate: newGate(idle),
		led: &leds{}, applied: make(chan Version, 4)}
	var err error
	r.w, err = NewWatcher(WatcherOptions{Store: r.store, Stick: DirStick{Globs: []string{r.stick}}, Key: r.o.box,
		Idle: r.gate, LED: r.led, Interval: 20 * time.Millisecond, Now: func() time.Time { return t0.Add(time.Hour) },
		Logger:  slog.New(slog.DiscardHandler),
		Applied: func(v Version) { r.applied <- v }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) put(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.stick, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) putRoot(t *testing.T) {
	t.Helper()
	r.put(t, RootFile, []byte(bundle.PublicKeyHex(pub(r.o.root))+"\n"))
}

// A bundle found on the stick while she is live waits until the box is
// idle again; then it is applied and the LED says so.
func TestStickWaitsUntilIdle(t *testing.T) {
	r := newRig(t, false)
	r.putRoot(t)
	r.put(t, "设置.cunbo", r.o.bundle(t, 1, 1000))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.w.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case v := <-r.applied:
		t.Fatalf("version %d applied while live", v.Number)
	case <-time.After(time.Second):
	}
	if _, ok := r.store.Current(); ok || len(r.led.list()) != 0 {
		t.Fatalf("while live: current set or LED flashed %v", r.led.list())
	}
	r.gate.set(true)
	select {
	case v := <-r.applied:
		if v.Number != 1 || configVersion(t, r.store) != 1 {
			t.Fatalf("applied %+v", v)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("not applied once idle")
	}
	if got := r.led.list(); len(got) != 1 || got[0] != hw.PatternBundle {
		t.Fatalf("LED flashed %v, want %s", got, hw.PatternBundle)
	}
	if out := r.store.Outcome(); out == nil || !out.OK || !out.FirstTrust {
		t.Fatalf("outcome %+v", out)
	}
	// The same stick left in: not taken again (it is not newer anyway).
	select {
	case v := <-r.applied:
		t.Fatalf("version %d applied twice", v.Number)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestStickRefusals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		root     bool
		data     func(o *org, t *testing.T) []byte
		wantKind string
		wantMsg  string
	}{
		{"tampered", true, func(o *org, t *testing.T) []byte {
			b := o.bundle(t, 1, 1000)
			i := len(b) / 2 // inside the photo
			b[i] ^= 0xff
			return b
		}, string(bundle.FileMismatch), "❌ " + bundle.FileMismatch.Message()},
		{"not a bundle", true, func(*org, *testing.T) []byte { return []byte("hello") },
			string(bundle.Malformed), "❌ " + bundle.Malformed.Message()},
		{"new box without root.pub", false, func(o *org, t *testing.T) []byte { return o.bundle(t, 1, 100) },
			"no_root", "❌ 这台盒子第一次设置，U盘上要有机构的 root.pub 文件"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, true)
			if tc.root {
				r.putRoot(t)
			}
			r.put(t, "a.cunbo", tc.data(r.o, t))
			if err := r.w.Once(context.Background()); err != nil {
				t.Fatal(err)
			}
			out := r.store.Outcome()
			if out == nil || out.OK || out.Kind != tc.wantKind || out.Message != tc.wantMsg || out.Reason == "" {
				t.Fatalf("outcome %+v, want kind %s, message %s", out, tc.wantKind, tc.wantMsg)
			}
			if _, ok := r.store.Current(); ok {
				t.Fatal("a refused bundle was applied")
			}
			if _, ok, _ := r.store.Trust(); ok {
				t.Fatal("a refused bundle made the box trust its root")
			}
			if got := r.led.list(); len(got) != 1 || got[0] != hw.PatternBundleRefused {
				t.Fatalf("LED flashed %v", got)
			}
		})
	}
}

// The QR code on the phone page says the box's key: the SVG, drawn back
// into pixels from its path, decodes with an independent reader.
func TestQRSVGDecodes(t *testing.T) {
	want := bundle.EnrolText(pub(key("box")))
	svg, err := QRSVG(want)
	if err != nil {
		t.Fatal(err)
	}
	var size int
	if _, err := fmt.Sscanf(svg[strings.Index(svg, "viewBox=")+len(`viewBox="0 0 `):], "%d", &size); err != nil {
		t.Fatalf("viewBox: %v in %.120q", err, svg)
	}
	const scale = 6
	img := image.NewGray(image.Rect(0, 0, size*scale, size*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	dark := 0
	for _, m := range regexp.MustCompile(`M(\d+) (\d+)h1v1h-1z`).FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		dark++
		for dy := range scale {
			for dx := range scale {
				img.SetGray(x*scale+dx, y*scale+dy, color.Gray{})
			}
		}
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrreader.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode a %d-module QR with %d dark modules: %v", size, dark, err)
	}
	if res.GetText() != want {
		t.Fatalf("QR says %q, want %q", res.GetText(), want)
	}
}
