package encode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/cunbo/cunbo/internal/childproc"
)

// Codec names the ffmpeg H.264 encoder to use.
type Codec string

const (
	// CodecX264 is software libx264 (Pi 5, desktop).
	CodecX264 Codec = "libx264"
	// CodecV4L2M2M is the Pi 4's hardware encoder behind /dev/video11.
	CodecV4L2M2M Codec = "h264_v4l2m2m"
)

// DefaultM2MDevice is where the Pi 4 exposes its H.264 encoder.
const DefaultM2MDevice = "/dev/video11"

// Probe decides whether the hardware encoder is usable. Its funcs are the
// seams tests replace; nil funcs use the real system.
type Probe struct {
	// Device defaults to DefaultM2MDevice.
	Device string
	// DeviceExists reports whether path is a character device.
	DeviceExists func(path string) bool
	// ListEncoders returns the output of `ffmpeg -hide_banner -encoders`.
	ListEncoders func(ctx context.Context) (string, error)
}

// SystemProbe returns a Probe that looks at the real device and asks ffmpeg.
func SystemProbe(ffmpeg string) Probe {
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	return Probe{
		ListEncoders: func(ctx context.Context) (string, error) {
			var out strings.Builder
			cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-encoders")
			cmd.Stdout = &out
			err := childproc.Run(cmd)
			return out.String(), err
		},
	}
}

// Detect returns CodecV4L2M2M only when the M2M device exists AND ffmpeg
// was built with h264_v4l2m2m; otherwise CodecX264 and a reason. Either
// half alone is common (a Pi 5 has /dev/video1x nodes for other codecs;
// desktop ffmpeg lists the encoder without the hardware).
func (p Probe) Detect(ctx context.Context) (Codec, string) {
	dev := p.Device
	if dev == "" {
		dev = DefaultM2MDevice
	}
	exists := p.DeviceExists
	if exists == nil {
		exists = isCharDevice
	}
	if !exists(dev) {
		return CodecX264, fmt.Sprintf("no hardware encoder device %s", dev)
	}
	if p.ListEncoders == nil {
		return CodecX264, "no way to list ffmpeg encoders"
	}
	out, err := p.ListEncoders(ctx)
	if err != nil {
		return CodecX264, fmt.Sprintf("listing ffmpeg encoders failed: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		// Lines look like " V....D h264_v4l2m2m   V4L2 mem2mem H.264 encoder wrapper".
		if len(f) >= 2 && f[1] == string(CodecV4L2M2M) && strings.HasPrefix(f[0], "V") {
			return CodecV4L2M2M, fmt.Sprintf("%s present and ffmpeg has %s", dev, CodecV4L2M2M)
		}
	}
	return CodecX264, fmt.Sprintf("ffmpeg lacks %s", CodecV4L2M2M)
}

func isCharDevice(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
