package hw

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// scaleFilter fits any input into the requested frame, letterboxed, at the
// requested rate, so a portrait request on a landscape camera still works.
func scaleFilter(f VideoFormat) string {
	return fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=%d",
		f.Width, f.Height, f.Width, f.Height, f.FPS)
}

var rawOutArgs = []string{"-an", "-pix_fmt", "yuv420p", "-f", "rawvideo", "pipe:1"}

// FileLoopConfig configures a FileLoop.
type FileLoopConfig struct {
	// Path of any video file ffmpeg can decode.
	Path   string
	Format VideoFormat
	// FFmpeg is the executable, default "ffmpeg".
	FFmpeg string
	Epoch  time.Time
	Logger *slog.Logger
}

// FileLoop plays a video file over and over as if it were a camera: an
// ffmpeg child decodes, scales and converts it to I420 at the requested
// size and rate, and frames are paced at real time.
type FileLoop struct{ p *pipeVideo }

// NewFileLoop checks the file and starts the decoder.
func NewFileLoop(cfg FileLoopConfig) (*FileLoop, error) {
	st, err := os.Stat(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("hw: file loop: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("hw: file loop: %s is not a regular file", cfg.Path)
	}
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-stream_loop", "-1", "-i", cfg.Path, "-vf", scaleFilter(cfg.Format)}
	p, err := startPipeVideo(pipeVideoConfig{
		name: "file loop", path: orDefault(cfg.FFmpeg, "ffmpeg"), args: append(args, rawOutArgs...),
		format: cfg.Format, epoch: cfg.Epoch, logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &FileLoop{p: p}, nil
}

// Format implements VideoSource.
func (s *FileLoop) Format() VideoFormat { return s.p.format }

// ReadFrame implements VideoSource.
func (s *FileLoop) ReadFrame(ctx context.Context, f *Frame) error { return s.p.readFrame(ctx, f) }

// Close stops the decoder.
func (s *FileLoop) Close() error { return s.p.close() }

// V4L2Config configures a V4L2 (USB UVC) camera.
type V4L2Config struct {
	// Device defaults to /dev/video0.
	Device string
	Format VideoFormat
	// InputFormat asks the camera for a pixel format, e.g. "mjpeg" (most
	// UVC cameras only reach 720p30 in MJPEG) or "yuyv422"; empty lets
	// ffmpeg pick.
	InputFormat string
	// FFmpeg is the executable, default "ffmpeg".
	FFmpeg string
	Epoch  time.Time
	Logger *slog.Logger
}

// V4L2 captures a USB camera through ffmpeg's v4l2 input, converted to I420
// at the requested size and rate.
type V4L2 struct{ p *pipeVideo }

// NewV4L2 checks that the device exists and starts capture. A missing
// device gives an error wrapping ErrNoDevice.
func NewV4L2(cfg V4L2Config) (*V4L2, error) {
	dev := orDefault(cfg.Device, "/dev/video0")
	st, err := os.Stat(dev)
	if err != nil {
		return nil, fmt.Errorf("hw: v4l2: camera %s: %w (%w)", dev, ErrNoDevice, err)
	}
	if st.Mode()&os.ModeCharDevice == 0 {
		return nil, fmt.Errorf("hw: v4l2: %s is not a character device: %w", dev, ErrNoDevice)
	}
	if err := cfg.Format.Validate(); err != nil {
		return nil, err
	}
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "v4l2", "-thread_queue_size", "64"}
	if cfg.InputFormat != "" {
		args = append(args, "-input_format", cfg.InputFormat)
	}
	args = append(args,
		"-framerate", strconv.Itoa(cfg.Format.FPS),
		"-video_size", fmt.Sprintf("%dx%d", cfg.Format.Width, cfg.Format.Height),
		"-i", dev, "-vf", scaleFilter(cfg.Format))
	p, err := startPipeVideo(pipeVideoConfig{
		name: "v4l2 " + dev, path: orDefault(cfg.FFmpeg, "ffmpeg"), args: append(args, rawOutArgs...),
		format: cfg.Format, epoch: cfg.Epoch, live: true, logger: cfg.Logger,
		deviceMissing: func(s string) bool {
			return strings.Contains(s, "No such device") || strings.Contains(s, "No such file or directory")
		},
	})
	if err != nil {
		return nil, err
	}
	return &V4L2{p: p}, nil
}

// Format implements VideoSource.
func (s *V4L2) Format() VideoFormat { return s.p.format }

// ReadFrame implements VideoSource.
func (s *V4L2) ReadFrame(ctx context.Context, f *Frame) error { return s.p.readFrame(ctx, f) }

// Close stops capture.
func (s *V4L2) Close() error { return s.p.close() }

// RPiCamConfig configures the Raspberry Pi camera.
type RPiCamConfig struct {
	Format VideoFormat
	// Stride is the luma row length rpicam-vid writes. libcamera may pad
	// rows to an alignment (64 bytes on a Pi 5), so a 720-wide portrait
	// frame can arrive with 768-byte rows; 0 means no padding.
	Stride int
	// Executable defaults to "rpicam-vid"; tests point it at a fake.
	Executable string
	// ExtraArgs go before the output, e.g. "--hflip", "--awb", "indoor".
	ExtraArgs []string
	Epoch     time.Time
	Logger    *slog.Logger
}

// RPiCam reads raw I420 from rpicam-vid (--codec yuv420) on a pipe.
type RPiCam struct{ p *pipeVideo }

// NewRPiCam starts rpicam-vid. If no camera is connected rpicam-vid exits
// at once and the first ReadFrame returns an error wrapping ErrNoDevice.
func NewRPiCam(cfg RPiCamConfig) (*RPiCam, error) {
	if err := cfg.Format.Validate(); err != nil {
		return nil, err
	}
	args := []string{"--nopreview", "--codec", "yuv420",
		"--width", strconv.Itoa(cfg.Format.Width), "--height", strconv.Itoa(cfg.Format.Height),
		"--framerate", strconv.Itoa(cfg.Format.FPS), "-t", "0"}
	args = append(args, cfg.ExtraArgs...)
	args = append(args, "-o", "-")
	p, err := startPipeVideo(pipeVideoConfig{
		name: "rpicam", path: orDefault(cfg.Executable, "rpicam-vid"), args: args,
		format: cfg.Format, stride: cfg.Stride, epoch: cfg.Epoch, live: true, logger: cfg.Logger,
		deviceMissing: func(s string) bool { return strings.Contains(strings.ToLower(s), "no cameras available") },
	})
	if err != nil {
		return nil, err
	}
	return &RPiCam{p: p}, nil
}

// Format implements VideoSource.
func (s *RPiCam) Format() VideoFormat { return s.p.format }

// ReadFrame implements VideoSource.
func (s *RPiCam) ReadFrame(ctx context.Context, f *Frame) error { return s.p.readFrame(ctx, f) }

// Close stops rpicam-vid.
func (s *RPiCam) Close() error { return s.p.close() }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
