package hw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	landscape = VideoFormat{Width: 1280, Height: 720, FPS: 30}
	portrait  = VideoFormat{Width: 720, Height: 1280, FPS: 30}
)

func TestTestPatternMovesAndIsPaced(t *testing.T) {
	for _, vf := range []VideoFormat{landscape, portrait} {
		t.Run(fmt.Sprintf("%dx%d", vf.Width, vf.Height), func(t *testing.T) {
			p, err := NewTestPattern(TestPatternConfig{Format: vf})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			const n = 15
			frames := make([]*Frame, n)
			start := time.Now()
			for i := range frames {
				frames[i] = NewFrame(vf.Width, vf.Height)
				if err := p.ReadFrame(ctx, frames[i]); err != nil {
					t.Fatal(err)
				}
			}
			// A ticker can be late under load but never early.
			if took, min := time.Since(start), (n-1)*vf.Interval(); took < min {
				t.Errorf("%d frames in %v, want at least %v", n, took, min)
			}
			for i := 1; i < n; i++ {
				if frames[i].PTS <= frames[i-1].PTS {
					t.Errorf("PTS not increasing: %v then %v", frames[i-1].PTS, frames[i].PTS)
				}
				if bytes.Equal(frames[i].Y, frames[i-1].Y) {
					t.Errorf("frame %d identical to the previous one: a freeze would be invisible", i)
				}
			}
			// The counter plate differs between frames even where stripes
			// do not reach: compare only the plate's rows.
			scale := textScale(vf.Width, vf.Height, 20)
			plate := frames[0].Y[:9*scale*vf.Width]
			if bytes.Equal(plate, frames[1].Y[:9*scale*vf.Width]) {
				t.Error("clock/counter plate did not change between frames")
			}
		})
	}
}

func TestDrawTextRendersGlyphs(t *testing.T) {
	f := NewFrame(64, 16)
	drawText(f, 0, 0, 1, "1")
	// Glyph '1' row 6 is 0x0e: columns 1..3 lit.
	row := f.Y[6*64 : 6*64+5]
	want := []byte{0, 235, 235, 235, 0}
	if !bytes.Equal(row, want) {
		t.Errorf("row 6 of '1' = %v, want %v", row, want)
	}
}

func TestVideoFormatValidate(t *testing.T) {
	cases := []struct {
		f  VideoFormat
		ok bool
	}{
		{landscape, true},
		{portrait, true},
		{VideoFormat{Width: 641, Height: 480, FPS: 30}, false},
		{VideoFormat{Width: 640, Height: 0, FPS: 30}, false},
		{VideoFormat{Width: 8192, Height: 480, FPS: 30}, false},
		{VideoFormat{Width: 640, Height: 480, FPS: 0}, false},
	}
	for _, c := range cases {
		if err := c.f.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: err %v, want ok=%v", c.f, err, c.ok)
		}
	}
	if _, err := NewTestPattern(TestPatternConfig{Format: VideoFormat{Width: 3, Height: 3, FPS: 30}}); err == nil {
		t.Error("odd size accepted")
	}
}

func TestReadFrameRejectsWrongFrameAndHonoursContext(t *testing.T) {
	p, err := NewTestPattern(TestPatternConfig{Format: VideoFormat{Width: 64, Height: 48, FPS: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.ReadFrame(context.Background(), NewFrame(32, 48)); err == nil {
		t.Error("wrong-size frame accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.ReadFrame(ctx, NewFrame(64, 48)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want deadline exceeded", err)
	}
}

// writeScript writes an executable shell script for a fake camera process.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg not installed (Debian package ffmpeg; make test installs it)")
	}
}

// fakeRPiCam mimics rpicam-vid: it records its arguments, parses the size
// and rate, and writes raw I420 of a solid red picture with rows padded to
// $STRIDE bytes with black, like libcamera's aligned buffers.
const fakeRPiCam = `
echo "$@" > "$(dirname "$0")/args"
while [ $# -gt 0 ]; do
  case "$1" in
    --width) W=$2; shift;;
    --height) H=$2; shift;;
    --framerate) F=$2; shift;;
  esac
  shift
done
exec ffmpeg -hide_banner -loglevel error -f lavfi -i "color=c=red:size=${W}x${H}:rate=$F" \
  -vf "pad=${STRIDE:-$W}:$H:0:0:black" -pix_fmt yuv420p -f rawvideo pipe:1
`

func TestRPiCamReadsRawPipe(t *testing.T) {
	needFFmpeg(t)
	cases := []struct {
		name   string
		format VideoFormat
		stride int
	}{
		{"landscape", landscape, 0},
		{"portrait padded rows", portrait, 768},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			script := writeScript(t, fakeRPiCam)
			if c.stride != 0 {
				t.Setenv("STRIDE", "768")
			}
			cam, err := NewRPiCam(RPiCamConfig{Format: c.format, Stride: c.stride, Executable: script, ExtraArgs: []string{"--hflip"}})
			if err != nil {
				t.Fatal(err)
			}
			defer cam.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			f := NewFrame(c.format.Width, c.format.Height)
			for i := 0; i < 5; i++ {
				if err := cam.ReadFrame(ctx, f); err != nil {
					t.Fatal(err)
				}
			}
			// Red in BT.601 limited range is about Y 81, U 90, V 240;
			// padding is black (Y 16, U/V 128) and must not leak in.
			for name, plane := range map[string][]byte{"Y": f.Y, "U": f.U, "V": f.V} {
				for i, b := range plane {
					if b == 16 || b == 128 {
						t.Fatalf("%s[%d] = %d: padding or stale data in picture", name, i, b)
					}
				}
			}
			args, err := os.ReadFile(filepath.Join(filepath.Dir(script), "args"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"--codec yuv420", "--width " + strconv.Itoa(c.format.Width), "--height " + strconv.Itoa(c.format.Height), "--framerate 30", "-t 0", "--hflip", "-o -"} {
				if !strings.Contains(string(args), want) {
					t.Errorf("args %q lack %q", args, want)
				}
			}
		})
	}
}

func TestRPiCamNoCamera(t *testing.T) {
	script := writeScript(t, "echo 'ERROR: *** no cameras available ***' >&2\nexit 255\n")
	cam, err := NewRPiCam(RPiCamConfig{Format: landscape, Executable: script})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = cam.ReadFrame(ctx, NewFrame(landscape.Width, landscape.Height))
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("got %v, want ErrNoDevice", err)
	}
	if !strings.Contains(err.Error(), "no cameras available") {
		t.Errorf("error %q does not carry rpicam-vid's message", err)
	}
}

func TestRPiCamMissingExecutable(t *testing.T) {
	_, err := NewRPiCam(RPiCamConfig{Format: landscape, Executable: filepath.Join(t.TempDir(), "rpicam-vid")})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("got %v, want not-found error", err)
	}
}

func TestV4L2(t *testing.T) {
	t.Run("missing device", func(t *testing.T) {
		_, err := NewV4L2(V4L2Config{Device: filepath.Join(t.TempDir(), "video9"), Format: landscape})
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("got %v, want ErrNoDevice", err)
		}
	})
	t.Run("not a device", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "video0")
		os.WriteFile(path, nil, 0o644)
		_, err := NewV4L2(V4L2Config{Device: path, Format: landscape})
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("got %v, want ErrNoDevice", err)
		}
	})
	t.Run("reads frames from ffmpeg", func(t *testing.T) {
		needFFmpeg(t)
		// /dev/null is a character device; the fake checks it was asked
		// for v4l2 capture of it and produces a picture instead.
		script := writeScript(t, `
echo "$@" > "$(dirname "$0")/args"
exec ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=640x480:rate=30 -vf "$(echo "$@" | sed 's/.*-vf \([^ ]*\).*/\1/')" -an -pix_fmt yuv420p -f rawvideo pipe:1
`)
		cam, err := NewV4L2(V4L2Config{Device: "/dev/null", Format: portrait, InputFormat: "mjpeg", FFmpeg: script})
		if err != nil {
			t.Fatal(err)
		}
		defer cam.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		f := NewFrame(portrait.Width, portrait.Height)
		for i := 0; i < 3; i++ {
			if err := cam.ReadFrame(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		// Letterboxed: a 4:3 picture in a 9:16 frame has black bars top
		// and bottom, picture in the middle.
		if f.Y[0] != 16 || f.Y[len(f.Y)-1] != 16 {
			t.Errorf("corners %d/%d, want black letterbox", f.Y[0], f.Y[len(f.Y)-1])
		}
		mid := f.Y[640*portrait.Width : 641*portrait.Width]
		if bytes.Count(mid, []byte{16}) == len(mid) {
			t.Error("middle row is black: no picture")
		}
		args, _ := os.ReadFile(filepath.Join(filepath.Dir(script), "args"))
		for _, want := range []string{"-f v4l2", "-input_format mjpeg", "-framerate 30", "-video_size 720x1280", "-i /dev/null"} {
			if !strings.Contains(string(args), want) {
				t.Errorf("args %q lack %q", args, want)
			}
		}
	})
	t.Run("ffmpeg refuses device", func(t *testing.T) {
		needFFmpeg(t)
		cam, err := NewV4L2(V4L2Config{Device: "/dev/null", Format: landscape})
		if err != nil {
			t.Fatal(err)
		}
		defer cam.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = cam.ReadFrame(ctx, NewFrame(landscape.Width, landscape.Height))
		if err == nil || !strings.Contains(err.Error(), "v4l2") {
			t.Fatalf("got %v, want a v4l2 error", err)
		}
	})
}

func TestFileLoopLoopsAndPaces(t *testing.T) {
	needFFmpeg(t)
	// A half-second clip: reading a second of frames needs a loop.
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "testsrc2=size=320x240:rate=10", "-t", "0.5", "-c:v", "libx264", "-preset", "ultrafast", clip).CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v %s", err, out)
	}
	vf := VideoFormat{Width: 160, Height: 120, FPS: 30}
	src, err := NewFileLoop(FileLoopConfig{Path: clip, Format: vf})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	f := NewFrame(vf.Width, vf.Height)
	distinct := map[string]bool{}
	for i := 0; i < 36; i++ {
		if err := src.ReadFrame(ctx, f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		distinct[string(f.Y)] = true
	}
	if took := time.Since(start); took < 35*vf.Interval() {
		t.Errorf("36 frames in %v: not paced", took)
	}
	// 5 source frames at 10 fps, each repeated thrice at 30 fps, looping.
	if len(distinct) < 4 || len(distinct) > 6 {
		t.Errorf("%d distinct pictures, want ~5 (one loop of the clip)", len(distinct))
	}

	if _, err := NewFileLoop(FileLoopConfig{Path: filepath.Join(t.TempDir(), "none.mp4"), Format: vf}); err == nil {
		t.Error("missing file accepted")
	}
}
