// Package config loads and validates the box's configuration file,
// /etc/cunbo/cunbo.toml. Every key has a default that suits a Raspberry Pi
// box, so a file holding only the device id, PIN and a destination works.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// DefaultPath is where the package installs the configuration.
const DefaultPath = "/etc/cunbo/cunbo.toml"

// Config is the whole file.
type Config struct {
	// DeviceID names the box to the review service and in logs.
	DeviceID string `toml:"device_id"`
	// PIN protects the streamer's phone page: 6 to 8 digits.
	PIN string `toml:"pin"`
	// StateDir holds the box's own state (catalogue cache, upload queue).
	StateDir  string        `toml:"state_dir"`
	Catalogue string        `toml:"catalogue"`
	RulePack  string        `toml:"rule_pack"`
	HTTP      HTTP          `toml:"http"`
	GPIO      GPIO          `toml:"gpio"`
	Video     Video         `toml:"video"`
	Audio     Audio         `toml:"audio"`
	Speech    Speech        `toml:"speech"`
	Record    Record        `toml:"record"`
	Dest      []Destination `toml:"destination"`
}

// HTTP is the local web server for the phone page and the API.
type HTTP struct {
	Listen string `toml:"listen"`
}

// GPIO numbers are BCM numbers (GPIO17 is 17), not header pin numbers.
type GPIO struct {
	BigButton    int  `toml:"big_button"`
	NextButton   int  `toml:"next_button"`
	PrevButton   int  `toml:"prev_button"`
	LightButton  int  `toml:"light_button"`
	MarkButton   int  `toml:"mark_button"`
	LEDRed       int  `toml:"led_red"`
	LEDGreen     int  `toml:"led_green"`
	LEDBlue      int  `toml:"led_blue"`
	LEDActiveLow bool `toml:"led_active_low"`
	// The ring light is on a hardware PWM channel (sysfs), not a GPIO line.
	RingPWMChip    string   `toml:"ring_pwm_chip"`
	RingPWMChannel int      `toml:"ring_pwm_channel"`
	RingLevel      string   `toml:"ring_level"`
	Debounce       Duration `toml:"debounce"`
	LongPress      Duration `toml:"long_press"`
}

// Video is the camera and the encoded picture.
type Video struct {
	// Source is rpicam (Pi camera via rpicam-vid), v4l2 (USB UVC) or test.
	Source string `toml:"source"`
	Device string `toml:"device"`
	Width  int    `toml:"width"`
	Height int    `toml:"height"`
	// Portrait is the 9:16 picture phone viewers watch full screen.
	Portrait    bool `toml:"portrait"`
	FPS         int  `toml:"fps"`
	BitrateKbps int  `toml:"bitrate_kbps"`
}

// Audio is the microphone.
type Audio struct {
	// Source is alsa or test.
	Source     string `toml:"source"`
	Device     string `toml:"device"`
	SampleRate int    `toml:"sample_rate"`
	Channels   int    `toml:"channels"`
}

// Speech is the caption worker.
type Speech struct {
	ModelDir string `toml:"model_dir"`
}

// Record is the on-disk recording ring.
type Record struct {
	Dir     string `toml:"dir"`
	QuotaMB int    `toml:"quota_mb"`
}

// Destination is one place the stream goes.
type Destination struct {
	Name string `toml:"name"`
	// Kind is rtmp (Douyin, Kuaishou, …) or whip (WebRTC ingest).
	Kind string `toml:"kind"`
	URL  string `toml:"url"`
	// Key is the RTMP stream key, appended to the URL, or the WHIP
	// bearer token.
	Key string `toml:"key"`
}

// Duration is a time.Duration written as "3s" or "30ms".
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration like \"3s\": %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Default is the configuration of a box with the reference wiring.
func Default() Config {
	return Config{
		StateDir:  "/var/lib/cunbo",
		Catalogue: "/var/lib/cunbo/catalogue.json",
		RulePack:  "/usr/share/cunbo/rules",
		HTTP:      HTTP{Listen: ":8080"},
		GPIO: GPIO{
			BigButton: 17, NextButton: 27, PrevButton: 22, LightButton: 23, MarkButton: 24,
			LEDRed: 5, LEDGreen: 6, LEDBlue: 13,
			RingPWMChip: "/sys/class/pwm/pwmchip0", RingPWMChannel: 0, RingLevel: "mid",
			Debounce: Duration{30 * time.Millisecond}, LongPress: Duration{3 * time.Second},
		},
		Video:  Video{Source: "rpicam", Device: "/dev/video0", Portrait: true, FPS: 30, BitrateKbps: 2500},
		Audio:  Audio{Source: "alsa", Device: "default", SampleRate: 48000, Channels: 1},
		Speech: Speech{ModelDir: "/usr/share/cunbo/models"},
		Record: Record{Dir: "/var/lib/cunbo/record", QuotaMB: 8192},
	}
}

// FieldError is one problem with one key.
type FieldError struct {
	File string
	Line int // 0 when the key is absent from the file (a bad default combination)
	Key  string
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Key, e.Msg)
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b, path)
}

// Parse decodes and validates a file's contents; name is used in errors.
// Errors name the file, the line and the key. Several problems are all
// reported at once (errors.Join of *FieldError).
func Parse(data []byte, name string) (*Config, error) {
	c := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			if pe.LastKey != "" {
				return nil, fmt.Errorf("config: %w", &FieldError{File: name, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message})
			}
			return nil, fmt.Errorf("config: %s:%d: %s", name, pe.Position.Line, pe.Message)
		}
		// Type mismatches are plain errors naming the last key.
		if m := lastKeyRe.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("config: %w", &FieldError{File: name, Line: keyLines(data).find(m[1]), Key: m[1], Msg: m[2]})
		}
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	lines := keyLines(data)
	var errs []error
	for _, k := range md.Undecoded() {
		key := k.String()
		errs = append(errs, &FieldError{File: name, Line: lines.find(key), Key: key, Msg: "unknown key"})
	}
	for _, fe := range c.check() {
		fe.File = name
		fe.Line = lines.find(fe.Key)
		errs = append(errs, fe)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	c.fill()
	return &c, nil
}

// fill derives what the file may leave out.
func (c *Config) fill() {
	if c.Video.Width == 0 && c.Video.Height == 0 {
		c.Video.Width, c.Video.Height = 1280, 720
		if c.Video.Portrait {
			c.Video.Width, c.Video.Height = 720, 1280
		}
	}
}

var (
	deviceIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	pinRe      = regexp.MustCompile(`^[0-9]{6,8}$`)
	lastKeyRe  = regexp.MustCompile(`last key "([^"]+)"\): (.*)$`)
)

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// check validates c and returns one error per bad key.
func (c *Config) check() []*FieldError {
	var errs []*FieldError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if !deviceIDRe.MatchString(c.DeviceID) {
		bad("device_id", "%q must be 1-32 lower-case letters, digits or '-', starting with a letter or digit", c.DeviceID)
	}
	if !pinRe.MatchString(c.PIN) {
		bad("pin", "must be 6 to 8 digits, written as a string (pin = \"246813\")")
	}
	for key, p := range map[string]string{
		"state_dir": c.StateDir, "catalogue": c.Catalogue, "rule_pack": c.RulePack,
		"speech.model_dir": c.Speech.ModelDir, "record.dir": c.Record.Dir,
	} {
		if !filepath.IsAbs(p) {
			bad(key, "%q must be an absolute path", p)
		}
	}
	if host, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "%q is not host:port (e.g. \":8080\")", c.HTTP.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.ContainsAny(host, " /") {
		bad("http.listen", "%q: port must be 1-65535", c.HTTP.Listen)
	}

	g := c.GPIO
	pins := []struct {
		key string
		n   int
	}{
		{"gpio.big_button", g.BigButton}, {"gpio.next_button", g.NextButton}, {"gpio.prev_button", g.PrevButton},
		{"gpio.light_button", g.LightButton}, {"gpio.mark_button", g.MarkButton},
		{"gpio.led_red", g.LEDRed}, {"gpio.led_green", g.LEDGreen}, {"gpio.led_blue", g.LEDBlue},
	}
	used := map[int]string{}
	for _, p := range pins {
		if p.n < 0 || p.n > 27 {
			bad(p.key, "%d is not a header GPIO (BCM 0-27)", p.n)
			continue
		}
		if other, dup := used[p.n]; dup {
			bad(p.key, "GPIO%d is already used by %s", p.n, other)
			continue
		}
		used[p.n] = p.key
	}
	if !filepath.IsAbs(g.RingPWMChip) {
		bad("gpio.ring_pwm_chip", "%q must be an absolute path like /sys/class/pwm/pwmchip0", g.RingPWMChip)
	}
	if g.RingPWMChannel < 0 || g.RingPWMChannel > 3 {
		bad("gpio.ring_pwm_channel", "%d must be 0-3", g.RingPWMChannel)
	}
	if !oneOf(g.RingLevel, "off", "low", "mid", "high") {
		bad("gpio.ring_level", "%q must be off, low, mid or high", g.RingLevel)
	}
	if g.Debounce.Duration < time.Millisecond || g.Debounce.Duration > 200*time.Millisecond {
		bad("gpio.debounce", "%s must be 1ms-200ms", g.Debounce)
	}
	if g.LongPress.Duration < time.Second || g.LongPress.Duration > 10*time.Second {
		bad("gpio.long_press", "%s must be 1s-10s", g.LongPress)
	}

	v := c.Video
	if !oneOf(v.Source, "rpicam", "v4l2", "test") {
		bad("video.source", "%q must be rpicam, v4l2 or test", v.Source)
	}
	if v.Source == "v4l2" && !strings.HasPrefix(v.Device, "/dev/") {
		bad("video.device", "%q must be a /dev/video* device", v.Device)
	}
	switch {
	case v.Width == 0 && v.Height == 0: // derived from portrait
	case v.Width < 160 || v.Height < 160 || v.Width > 1920 || v.Height > 1920:
		bad("video.width", "%dx%d must be between 160 and 1920 on each side", v.Width, v.Height)
	case v.Width%2 != 0 || v.Height%2 != 0:
		bad("video.width", "%dx%d must be even on both sides (I420)", v.Width, v.Height)
	case v.Portrait && v.Width > v.Height:
		bad("video.portrait", "portrait but %dx%d is landscape; swap width and height", v.Width, v.Height)
	case !v.Portrait && v.Width < v.Height:
		bad("video.portrait", "landscape but %dx%d is portrait; set portrait = true", v.Width, v.Height)
	}
	if v.FPS < 1 || v.FPS > 60 {
		bad("video.fps", "%d must be 1-60", v.FPS)
	}
	if v.BitrateKbps < 300 || v.BitrateKbps > 8000 {
		bad("video.bitrate_kbps", "%d must be 300-8000", v.BitrateKbps)
	}

	a := c.Audio
	if !oneOf(a.Source, "alsa", "test") {
		bad("audio.source", "%q must be alsa or test", a.Source)
	}
	if a.SampleRate != 16000 && a.SampleRate != 44100 && a.SampleRate != 48000 {
		bad("audio.sample_rate", "%d must be 16000, 44100 or 48000", a.SampleRate)
	}
	if a.Channels != 1 && a.Channels != 2 {
		bad("audio.channels", "%d must be 1 or 2", a.Channels)
	}
	if c.Record.QuotaMB < 256 {
		bad("record.quota_mb", "%d must be at least 256", c.Record.QuotaMB)
	}

	names := map[string]bool{}
	for i, d := range c.Dest {
		k := func(f string) string { return fmt.Sprintf("destination[%d].%s", i, f) }
		if d.Name == "" {
			bad(k("name"), "required")
		} else if names[d.Name] {
			bad(k("name"), "%q is used twice", d.Name)
		}
		names[d.Name] = true
		u, err := url.Parse(d.URL)
		switch {
		case !oneOf(d.Kind, "rtmp", "whip"):
			bad(k("kind"), "%q must be rtmp or whip", d.Kind)
		case err != nil || u.Host == "":
			bad(k("url"), "%q is not a URL", d.URL)
		case d.Kind == "rtmp" && !oneOf(u.Scheme, "rtmp", "rtmps"):
			bad(k("url"), "%q: an rtmp destination needs rtmp:// or rtmps://", d.URL)
		case d.Kind == "whip" && !oneOf(u.Scheme, "http", "https"):
			bad(k("url"), "%q: a whip destination needs http:// or https://", d.URL)
		}
	}
	return errs
}

// keyIndex maps a dotted key ("video.fps", "destination[1].url") to the
// line that sets it. BurntSushi/toml keeps key positions private, and an
// installer fixing a file on a Pi over SSH needs the line.
type keyIndex map[string]int

func keyLines(data []byte) keyIndex {
	idx := keyIndex{}
	table := ""
	arrays := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "[["):
			name := strings.TrimSpace(strings.Trim(strings.SplitN(line, "]]", 2)[0], "[ "))
			table = fmt.Sprintf("%s[%d]", name, arrays[name])
			arrays[name]++
			idx.set(table, n)
			idx.set(name, n)
		case strings.HasPrefix(line, "["):
			table = strings.TrimSpace(strings.Trim(strings.SplitN(line, "]", 2)[0], "[ "))
			idx.set(table, n)
		default:
			k, _, ok := strings.Cut(line, "=")
			if !ok || strings.HasPrefix(line, "#") {
				continue
			}
			k = strings.Trim(strings.TrimSpace(k), `"'`)
			if table != "" {
				k = table + "." + k
			}
			idx.set(k, n)
		}
	}
	return idx
}

func (idx keyIndex) set(k string, n int) {
	if _, ok := idx[k]; !ok {
		idx[k] = n
	}
}

// find returns the line of key, or of its closest enclosing table, or 0.
func (idx keyIndex) find(key string) int {
	for k := key; k != ""; {
		if n, ok := idx[k]; ok {
			return n
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}
