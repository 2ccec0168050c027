package encode

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

const encodersWithM2M = `Encoders:
 V..... = Video
 ------
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 V....D h264_v4l2m2m         V4L2 mem2mem H.264 encoder wrapper (codec h264)
 A....D aac                  AAC (Advanced Audio Coding)
`

const encodersWithoutM2M = `Encoders:
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 V....D h264_vaapi           H.264/AVC (VAAPI) (codec h264)
 A....D aac                  AAC (Advanced Audio Coding)
`

func TestProbeDetect(t *testing.T) {
	cases := []struct {
		name     string
		device   bool
		encoders string
		listErr  error
		want     Codec
		reason   string
	}{
		{"pi4: device and encoder", true, encodersWithM2M, nil, CodecV4L2M2M, "present"},
		{"pi5: no device", false, encodersWithM2M, nil, CodecX264, "no hardware encoder device"},
		{"device but ffmpeg lacks encoder", true, encodersWithoutM2M, nil, CodecX264, "lacks"},
		{"device but ffmpeg fails", true, "", errors.New("exec: not found"), CodecX264, "failed"},
		{"name only in description", true, " V....D libx264 wraps h264_v4l2m2m\n", nil, CodecX264, "lacks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var asked string
			listed := false
			p := Probe{
				DeviceExists: func(path string) bool { asked = path; return c.device },
				ListEncoders: func(context.Context) (string, error) { listed = true; return c.encoders, c.listErr },
			}
			got, reason := p.Detect(context.Background())
			if got != c.want || !strings.Contains(reason, c.reason) {
				t.Errorf("got %s (%s), want %s (%q)", got, reason, c.want, c.reason)
			}
			if asked != DefaultM2MDevice {
				t.Errorf("checked %q, want %s", asked, DefaultM2MDevice)
			}
			if !c.device && listed {
				t.Error("ran ffmpeg although the device is absent")
			}
		})
	}
}

// On this machine (no /dev/video11) the real probe must choose libx264.
func TestSystemProbeOnBuildMachine(t *testing.T) {
	got, reason := SystemProbe("").Detect(context.Background())
	if _, err := os.Stat(DefaultM2MDevice); err != nil && got != CodecX264 {
		t.Errorf("no %s but chose %s (%s)", DefaultM2MDevice, got, reason)
	}
}
