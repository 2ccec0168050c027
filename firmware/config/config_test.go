package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

const minimal = "device_id = \"box-1\"\npin = \"012345\"\n"

func TestExampleFileIsValidAndDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../cunbo.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b, "cunbo.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.DeviceID != "leishan-honey-01" || len(c.Dest) != 1 || c.Dest[0].Kind != "rtmp" {
		t.Fatalf("%+v", c)
	}
	// Apart from the required keys and the destination, the example shows
	// the defaults.
	want := Default()
	want.DeviceID, want.PIN, want.Dest = c.DeviceID, c.PIN, c.Dest
	want.fill()
	if !reflect.DeepEqual(*c, want) {
		t.Fatalf("example differs from defaults:\n got %+v\nwant %+v", *c, want)
	}
	// Every key of the config is mentioned in the example.
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(want); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		k, _, ok := strings.Cut(line, "=")
		if ok && !bytes.Contains(b, []byte(strings.TrimSpace(k))) {
			t.Errorf("example does not document key %q", strings.TrimSpace(k))
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Video.Width != 720 || c.Video.Height != 1280 || c.GPIO.LongPress.Duration != 3*time.Second ||
		c.StateDir != "/var/lib/cunbo" || c.HTTP.Listen != ":8080" {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = Parse([]byte(minimal+"[video]\nportrait = false\n"), "t.toml")
	if err != nil || c.Video.Width != 1280 || c.Video.Height != 720 {
		t.Fatalf("landscape default: %+v %v", c, err)
	}
}

func TestErrorsNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		name, file string
		want       []string // substrings of the error, each must appear
	}{
		{"missing pin", "device_id = \"a\"\n", []string{"t.toml: pin: must be 6 to 8 digits"}},
		{"numeric pin", "device_id = \"a\"\npin = 1234\n", []string{"t.toml:2: pin: incompatible types"}},
		{"bad device id", "device_id = \"Box One\"\npin = \"123456\"\n", []string{"t.toml:1: device_id:"}},
		{"syntax", minimal + "[video\nfps = 3\n", []string{"t.toml:", "end table name"}},
		{"unknown key", minimal + "[video]\nfsp = 30\n", []string{"t.toml:4: video.fsp: unknown key"}},
		{"fps", minimal + "[video]\n\nfps = 0\n", []string{"t.toml:5: video.fps: 0 must be 1-60"}},
		{"portrait mismatch", minimal + "[video]\nwidth = 1280\nheight = 720\n", []string{"t.toml:3: video.portrait: portrait but 1280x720"}},
		{"odd size", minimal + "[video]\nportrait = false\nwidth = 641\nheight = 480\n", []string{"t.toml:5: video.width:", "even"}},
		{"pin clash", minimal + "[gpio]\nled_red = 17\n", []string{"t.toml:4: gpio.led_red: GPIO17 is already used by gpio.big_button"}},
		{"pin range", minimal + "[gpio]\nmark_button = 40\n", []string{"t.toml:4: gpio.mark_button: 40"}},
		{"long press", minimal + "[gpio]\nlong_press = \"300ms\"\n", []string{"t.toml:4: gpio.long_press"}},
		{"bad duration", minimal + "[gpio]\ndebounce = \"soon\"\n", []string{"t.toml:4: gpio.debounce:", "soon"}},
		{"relative path", minimal + "state_dir = \"var/lib\"\n", []string{"t.toml:3: state_dir:"}},
		{"listen", minimal + "[http]\nlisten = \"8080\"\n", []string{"t.toml:4: http.listen:"}},
		{"audio", minimal + "[audio]\nsample_rate = 22050\nchannels = 6\n", []string{"t.toml:4: audio.sample_rate", "t.toml:5: audio.channels"}},
		{"quota", minimal + "[record]\nquota_mb = 10\n", []string{"t.toml:4: record.quota_mb"}},
		{"destination", minimal + "[[destination]]\nname = \"a\"\nkind = \"rtmp\"\nurl = \"rtmp://x/live\"\n" +
			"[[destination]]\nname = \"a\"\nkind = \"whip\"\nurl = \"rtmp://y/\"\n",
			[]string{"t.toml:8: destination[1].name: \"a\" is used twice", "t.toml:10: destination[1].url:", "needs http"}},
		{"destination kind", minimal + "[[destination]]\nname = \"a\"\nkind = \"srt\"\nurl = \"srt://x\"\n",
			[]string{"t.toml:5: destination[0].kind"}},
		{"not toml", "\x00\xff", []string{"t.toml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file), "t.toml")
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestFieldErrorsAreInspectable(t *testing.T) {
	_, err := Parse([]byte("pin = \"12\"\n"), "t.toml")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.File != "t.toml" {
		t.Fatalf("%v", err)
	}
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cunbo.toml")
	if _, err := Load(p); err == nil {
		t.Fatal("missing file accepted")
	}
	os.WriteFile(p, []byte(minimal), 0o644)
	if c, err := Load(p); err != nil || c.PIN != "012345" {
		t.Fatalf("%+v %v", c, err)
	}
}

// FuzzConfigParse: no input panics, and whatever Parse accepts survives a
// round trip through the encoder unchanged.
func FuzzConfigParse(f *testing.F) {
	if b, err := os.ReadFile("../cunbo.example.toml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(c); err != nil {
			t.Fatalf("encode: %v", err)
		}
		c2, err := Parse(buf.Bytes(), "again.toml")
		if err != nil {
			t.Fatalf("re-parse of %q: %v", buf.String(), err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, c2)
		}
	})
}
