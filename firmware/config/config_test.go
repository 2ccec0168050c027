package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/cunbo/cunbo/bundle"
)

const minimal = "device_id = \"box-1\"\npin = \"502817\"\n"

func TestExampleFileIsValidAndDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../cunbo.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	c, warnings, err := Parse(b, "cunbo.example.toml")
	if err != nil || len(warnings) > 0 {
		t.Fatal(err, warnings)
	}
	if c.DeviceID != "leishan-honey-01" || len(c.Dest) != 1 || c.Dest[0].Kind != "rtmp" {
		t.Fatalf("%+v", c)
	}
	// The package installs this file: it must not carry a PIN, so every
	// box makes its own (issue 19 item 4).
	if c.PIN != "" {
		t.Fatalf("the example config sets pin %q", c.PIN)
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
	want.PIN = "502817"
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
	c, warnings, err := Parse([]byte(minimal), "t.toml")
	if err != nil || len(warnings) > 0 {
		t.Fatal(err, warnings)
	}
	if c.Video.Width != 720 || c.Video.Height != 1280 || c.GPIO.LongPress.Duration != 3*time.Second ||
		c.StateDir != "/var/lib/cunbo" || c.HTTP.Listen != ":8080" {
		t.Fatalf("defaults: %+v", c)
	}
	c, _, err = Parse([]byte(minimal+"[video]\nportrait = false\n"), "t.toml")
	if err != nil || c.Video.Width != 1280 || c.Video.Height != 720 {
		t.Fatalf("landscape default: %+v %v", c, err)
	}
	// No pin at all is fine: the box makes its own (BoxPIN).
	if c, _, err := Parse([]byte("device_id = \"box-1\"\n"), "t.toml"); err != nil || c.PIN != "" {
		t.Fatalf("no pin: %+v %v", c, err)
	}
}

// TestEveryMistakeAtOnce: an unquoted pin used to stop the decoder, hiding
// every other mistake; now each is reported, in Chinese, with its line,
// its English key and a line to copy (issue 12 item 9).
func TestEveryMistakeAtOnce(t *testing.T) {
	file := "device_id = \"Box One\"\npin = 502817\n[video]\nfsp = 30\nfps = 0\n[audio]\nchannels = \"2\"\n"
	_, _, err := Parse([]byte(file), "cunbo.toml")
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"cunbo.toml:1: device_id: 盒子的名字必须填写",
		"cunbo.toml:2: pin: 密码要用英文引号括起来",
		"cunbo.toml:4: video.fsp: 盒子不认识这个设置，已忽略；是不是想写 fps？",
		"cunbo.toml:5: video.fps: 每秒画面数要在 1 到 60 之间，现在是 0。例如：fps = 30。盒子先用默认值 30。",
		"cunbo.toml:7: audio.channels: 要写成整数，不加引号，现在写的是 文字 \"2\"。例如：channels = 1。盒子先用默认值 1。",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(strings.TrimPrefix(lines[i], "config: "), w) {
			t.Errorf("line %d:\n got %s\nwant %s…", i+1, lines[i], w)
		}
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.File != "cunbo.toml" {
		t.Fatalf("not inspectable: %v", err)
	}
}

// TestBadOptionalKeysKeepDefaults: the box runs with the default of every
// bad optional key and reports each (the phone page lists them).
func TestBadOptionalKeysKeepDefaults(t *testing.T) {
	tests := []struct {
		name, file string
		key        string // of the one warning
		want       []string
		check      func(*Config) bool
	}{
		{"unknown key", "[video]\nfsp = 30\n", "video.fsp", []string{"不认识", "fps"}, func(c *Config) bool { return c.Video.FPS == 30 }},
		{"fps", "[video]\n\nfps = 0\n", "video.fps", []string{"1 到 60", "fps = 30"}, func(c *Config) bool { return c.Video.FPS == 30 }},
		{"fps as text", "[video]\nfps = \"25\"\n", "video.fps", []string{"整数"}, func(c *Config) bool { return c.Video.FPS == 30 }},
		{"portrait mismatch", "[video]\nwidth = 1280\nheight = 720\n", "video.portrait", []string{"对调"}, func(c *Config) bool { return c.Video.Width == 720 && c.Video.Height == 1280 }},
		{"odd size", "[video]\nportrait = false\nwidth = 641\nheight = 480\n", "video.width", []string{"双数"}, func(c *Config) bool { return c.Video.Width == 1280 }},
		{"pin range", "[gpio]\nmark_button = 40\n", "gpio.mark_button", []string{"0 到 27"}, func(c *Config) bool { return c.GPIO.MarkButton == 24 }},
		{"long press", "[gpio]\nlong_press = \"300ms\"\n", "gpio.long_press", []string{"1s 到 10s"}, func(c *Config) bool { return c.GPIO.LongPress.Duration == 3*time.Second }},
		{"bad duration", "[gpio]\ndebounce = \"soon\"\n", "gpio.debounce", []string{"\"soon\" 不是时长"}, func(c *Config) bool { return c.GPIO.Debounce.Duration == 30*time.Millisecond }},
		{"relative path", "state_dir = \"var/lib\"\n", "state_dir", []string{"以 / 开头"}, func(c *Config) bool { return c.StateDir == "/var/lib/cunbo" }},
		{"listen", "[http]\nlisten = \"8080\"\n", "http.listen", []string{"地址:端口", `listen = ":8080"`}, func(c *Config) bool { return c.HTTP.Listen == ":8080" }},
		{"sample rate", "[audio]\nsample_rate = 22050\n", "audio.sample_rate", []string{"48000"}, func(c *Config) bool { return c.Audio.SampleRate == 48000 }},
		{"quota too small", "[record]\nquota_mb = 10\n", "record.quota_mb", []string{"256"}, func(c *Config) bool { return c.Record.QuotaMB == 8192 }},
		// issue 19 item 12: this overflowed the byte count, turned the
		// flagged segments off and started anyway.
		{"quota overflow", "[record]\nquota_mb = 9223372036854775807\n", "record.quota_mb", []string{"太大"}, func(c *Config) bool { return c.Record.QuotaMB == 8192 }},
		// On armv7 int is 32 bits: this used to wrap to 256.
		{"quota wraps on 32 bits", "[record]\nquota_mb = 4294967552\n", "record.quota_mb", []string{"太大"}, func(c *Config) bool { return c.Record.QuotaMB == 8192 }},
		{"quota over a terabyte", "[record]\nquota_mb = 2000000\n", "record.quota_mb", []string{"256 到 1048576"}, func(c *Config) bool { return c.Record.QuotaMB == 8192 }},
		{"bool as text", "[video]\nportrait = \"yes\"\n", "video.portrait", []string{"true", "false"}, func(c *Config) bool { return c.Video.Portrait }},
		{"table as value", "video = 3\n", "video", []string{"[video]"}, func(c *Config) bool { return c.Video.FPS == 30 }},
		{"destination dropped", "[[destination]]\nname = \"a\"\nkind = \"rtmp\"\nurl = \"rtmp://x/live\"\n" +
			"[[destination]]\nname = \"b\"\nkind = \"whip\"\nurl = \"rtmp://y/\"\n",
			"destination[1].url", []string{"http://", "先不用"}, func(c *Config) bool { return len(c.Dest) == 1 && c.Dest[0].Name == "a" }},
		{"destination kind", "[[destination]]\nname = \"a\"\nkind = \"srt\"\nurl = \"srt://x\"\n", "destination[0].kind", []string{"rtmp 或 whip"},
			func(c *Config) bool { return len(c.Dest) == 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, warnings, err := Parse([]byte(minimal+tc.file), "t.toml")
			if err != nil {
				t.Fatalf("the box would not start: %v", err)
			}
			if len(warnings) != 1 || warnings[0].Key != tc.key || warnings[0].Fatal {
				t.Fatalf("warnings %v, want one for %s", warnings, tc.key)
			}
			w := warnings[0]
			if w.Line == 0 || w.File != "t.toml" {
				t.Errorf("%v does not say where", w)
			}
			for _, s := range tc.want {
				if !strings.Contains(w.Error(), s) {
					t.Errorf("%q lacks %q", w.Error(), s)
				}
			}
			if !tc.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}

func TestFatalMistakes(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"no device id", "pin = \"502817\"\n", []string{"t.toml: device_id: 盒子的名字必须填写", "没有写"}},
		{"numeric pin", "device_id = \"a\"\npin = 1234\n", []string{"t.toml:2: pin: 密码要用英文引号括起来", `pin = "502817"`}},
		{"short pin", "device_id = \"a\"\npin = \"1234\"\n", []string{"t.toml:2: pin: 密码要写 6 到 8 个数字"}},
		{"example pin", "device_id = \"a\"\npin = \"2468\"\n", []string{"t.toml:2: pin: 密码 2468 印在说明书和示例里", "删掉这一行"}},
		{"guessable pin", "device_id = \"a\"\npin = \"111111\"\n", []string{"太容易猜"}},
		{"syntax", minimal + "[video\nfps = 3\n", []string{"t.toml:", "写法不对", "device_id = "}},
		{"pin clash", minimal + "[gpio]\nled_red = 17\n", []string{"t.toml:4: gpio.led_red: GPIO17 已经接了 gpio.big_button"}},
		{"not toml", "\x00\xff", []string{"t.toml"}},
		{"too big", minimal + "# " + strings.Repeat("x", MaxFileBytes) + "\n", []string{"太大了"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Parse([]byte(tc.file), "t.toml")
			if err == nil || c != nil {
				t.Fatalf("accepted: %+v", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "改好之前盒子不会启动") {
				t.Errorf("error %q does not say the box stays off", err)
			}
		})
	}
}

// TestConfigBombs: nesting is refused before parsing, at once and in
// little memory; the file is read only up to its cap (issue 19 item 12).
func TestConfigBombs(t *testing.T) {
	n := 50_000
	tests := map[string]string{
		"dotted key":    strings.Repeat("a.", n) + "a = 1\n",
		"table header":  "[" + strings.Repeat("a.", n) + "a]\n",
		"nested arrays": "x = " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n",
		"inline tables": "x = " + strings.Repeat("{a=", n) + "1" + strings.Repeat("}", n) + "\n",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			go func() {
				_, _, err := Parse([]byte(minimal+body), "bomb.toml")
				done <- err
			}()
			select {
			case err := <-done:
				runtime.ReadMemStats(&after)
				if err == nil || !strings.Contains(err.Error(), "不是盒子的配置文件") {
					t.Fatalf("err = %v", err)
				}
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("took %v", took)
				}
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
					t.Errorf("allocated %d MB", alloc>>20)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still parsing after 10 s")
			}
		})
	}
	// A huge file is refused after reading just past the cap.
	p := filepath.Join(t.TempDir(), "big.toml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(minimal)
	if err := f.Truncate(89 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, _, err := Load(p); err == nil || !strings.Contains(err.Error(), "太大了") {
		t.Fatalf("89 MB config: %v", err)
	}
	// What a real config needs still passes the shape check.
	if line, msg := checkShape([]byte("x = [[1.5, 2], {a = \"[[[[[[[[[[.........\"}] # [[[[[[[[[[[[....\n[[destination]]\ny = '''\n{{{{{{{{{{'''\n")); msg != "" {
		t.Fatalf("line %d: %s", line, msg)
	}
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cunbo.toml")
	if _, _, err := Load(p); err == nil {
		t.Fatal("missing file accepted")
	}
	os.WriteFile(p, []byte(minimal), 0o644)
	if c, _, err := Load(p); err != nil || c.PIN != "502817" {
		t.Fatalf("%+v %v", c, err)
	}
}

// TestBoxPIN: a box without a pin in its config makes its own on first
// start, keeps it (0640, for the label) and uses the same one afterwards.
func TestBoxPIN(t *testing.T) {
	dir := t.TempDir()
	c := Default()
	c.StateDir = dir
	pin, created, err := BoxPIN(&c)
	if err != nil || !created || bundle.CheckPIN(pin) != "" {
		t.Fatalf("%q %v %v", pin, created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, PINFile))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("pin file: %v %v", fi, err)
	}
	again, created, err := BoxPIN(&c)
	if err != nil || created || again != pin {
		t.Fatalf("second start: %q %v %v, want %q", again, created, err, pin)
	}
	// Two boxes do not share a PIN (1 in 10^6 chance of a false failure).
	other := Default()
	other.StateDir = t.TempDir()
	if p2, _, _ := BoxPIN(&other); p2 == pin {
		t.Errorf("two boxes got PIN %s", pin)
	}
	// A damaged file is replaced, a configured PIN wins.
	os.WriteFile(filepath.Join(dir, PINFile), []byte("12\n"), 0o640)
	if p, created, err := BoxPIN(&c); err != nil || !created || bundle.CheckPIN(p) != "" {
		t.Fatalf("damaged file: %q %v %v", p, created, err)
	}
	c.PIN = "90817263"
	if p, _, _ := BoxPIN(&c); p != "90817263" {
		t.Fatalf("configured PIN ignored: %q", p)
	}
}

// FuzzConfigParse: no input panics or costs seconds, and whatever Parse
// accepts survives a round trip through the encoder unchanged and
// without warnings.
func FuzzConfigParse(f *testing.F) {
	if b, err := os.ReadFile("../cunbo.example.toml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(minimal))
	f.Add([]byte("device_id = \"Box One\"\npin = 502817\n[video]\nfsp = 30\nfps = 0\n"))
	f.Add([]byte(minimal + "[record]\nquota_mb = 9223372036854775807\n[[destination]]\nname = \"a\"\nkind = \"whip\"\nurl = \"rtmp://y/\"\n"))
	f.Add([]byte(minimal + "a.b.c.d.e.f.g.h.i.j = 1\nx = [[[[[[[[[1]]]]]]]]]\n"))
	f.Add([]byte(minimal + "destination = [{name = \"a\", kind = \"rtmp\", url = \"rtmp://x/y\"}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, warnings, err := Parse(data, "fuzz.toml")
		if err != nil {
			if c != nil || warnings != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		for _, w := range warnings {
			if w.Fatal || w.Msg == "" {
				t.Fatalf("bad warning %+v", w)
			}
		}
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(c); err != nil {
			t.Fatalf("encode: %v", err)
		}
		c2, w2, err := Parse(buf.Bytes(), "again.toml")
		if err != nil || len(w2) > 0 {
			t.Fatalf("re-parse of %q: %v %v", buf.String(), err, w2)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, c2)
		}
	})
}
