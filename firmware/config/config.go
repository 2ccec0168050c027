// Package config loads and validates the box's configuration file,
// /etc/cunbo/cunbo.toml. Every key has a default that suits a Raspberry Pi
// box, so a file holding only the device id, PIN and a destination works.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/cunbo/cunbo/bundle"
)

// DefaultPath is where the package installs the configuration.
const DefaultPath = "/etc/cunbo/cunbo.toml"

// Config is the whole file.
type Config struct {
	// DeviceID names the box to the review service and in logs.
	DeviceID string `toml:"device_id"`
	// PIN protects the streamer's phone page: 6 to 8 digits. Empty means
	// the box's own random one (BoxPIN).
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
	Review    Review        `toml:"review"`
	Dest      []Destination `toml:"destination"`
}

// Review is the review service the box uploads flagged segments to; with
// no URL they stay on the box.
type Review struct {
	URL string `toml:"url"`
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
		Catalogue: "/var/lib/cunbo/catalogue.xlsx",
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

// FieldError is one problem with one key, written for the trainer who
// fixes the file over SSH: Chinese words, the English key as it appears in
// the file, and a line to copy.
type FieldError struct {
	File string
	Line int // 0 when the key is absent from the file (a bad default combination)
	Key  string
	// Msg says in plain Chinese what is wrong and what was expected.
	Msg string
	// Example is a correct line to copy, e.g. `fps = 30`; "" when none fits.
	Example string
	// Default is what the box uses instead of a bad optional key ("" when
	// the key was dropped or the error is fatal).
	Default string
	// Fatal means the box cannot start until the key is fixed; otherwise
	// it runs without the key (Default, or the part dropped) and lists
	// the problem on the phone page.
	Fatal bool
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Chinese())
	return b.String()
}

// Chinese is the message with the example and what the box does about it.
func (e *FieldError) Chinese() string {
	s := e.Msg
	if e.Example != "" {
		s += "。例如：" + e.Example
	}
	switch {
	case e.Fatal:
		s += "。改好之前盒子不会启动"
	case e.Default != "":
		s += "。盒子先用默认值 " + e.Default
	}
	return s + "。"
}

// Limits checked before the file is parsed: a config is a few kilobytes,
// and the parser's cost grows with nesting.
const (
	MaxFileBytes = 64 << 10
	maxNesting   = 8 // brackets and braces open at once
	maxKeyDots   = 8 // dots in one line's keys
)

// Load reads and validates the file at path; see Parse.
func Load(path string) (*Config, []*FieldError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b, path)
}

// Parse decodes and validates a file's contents; name is used in errors.
// Every problem is found in one pass and named by file, line and key.
// A bad optional key keeps its default and comes back in warnings; the
// box runs. When the box cannot start (syntax, a required key), err holds
// every problem, fatal or not (errors.Join of *FieldError), and the
// config is nil.
func Parse(data []byte, name string) (c *Config, warnings []*FieldError, err error) {
	fatal := func(line int, key, msg, example string) (*Config, []*FieldError, error) {
		return nil, nil, fmt.Errorf("config: %w", &FieldError{File: name, Line: line, Key: key, Msg: msg, Example: example, Fatal: true})
	}
	if len(data) > MaxFileBytes {
		return fatal(0, "", fmt.Sprintf("配置文件有 %d 字节，太大了（最多 %d KB），多半不是盒子的配置文件", len(data), MaxFileBytes>>10), "")
	}
	if line, msg := checkShape(data); msg != "" {
		return fatal(line, "", msg, "")
	}
	raw := map[string]any{}
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fatal(pe.Position.Line, pe.LastKey, "这一行的写法不对（"+pe.Message+"），每个设置写成一行：名字 = 值，文字要加英文引号",
				`device_id = "leishan-honey-01"`)
		}
		return fatal(0, "", "读不懂这个文件（"+err.Error()+"）", "")
	}
	lines := keyLines(data)
	cfg := Default()
	d := decoder{}
	d.table(reflect.ValueOf(&cfg).Elem(), reflect.ValueOf(Default()), raw, "")
	d.errs = append(d.errs, cfg.check()...)
	for _, fe := range d.errs {
		fe.File = name
		fe.Line = lines.find(fe.Key)
	}
	slices.SortStableFunc(d.errs, func(a, b *FieldError) int { return a.Line - b.Line })
	for _, fe := range d.errs {
		if fe.Fatal {
			all := make([]error, len(d.errs))
			for i, fe := range d.errs {
				all[i] = fe
			}
			return nil, nil, fmt.Errorf("config: %w", errors.Join(all...))
		}
	}
	cfg.fill()
	return &cfg, d.errs, nil
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

var deviceIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

func oneOf(v string, allowed ...string) bool {
	return slices.Contains(allowed, v)
}

// checker collects problems; a bad optional key goes back to its default.
type checker struct {
	errs []*FieldError
	def  Config
}

func (k *checker) fatal(key, example, format string, args ...any) {
	k.errs = append(k.errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...), Example: example, Fatal: true})
}

// dropped reports a problem whose part of the config is left out.
func (k *checker) dropped(key, example, format string, args ...any) {
	k.errs = append(k.errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...), Example: example})
}

// fallback resets *p to its default d and reports why.
func fallback[T any](k *checker, p *T, d T, key, example, format string, args ...any) {
	*p = d
	k.errs = append(k.errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...), Example: example, Default: fmt.Sprint(d)})
}

// check validates c, putting each bad optional key back to its default,
// and returns one problem per bad key.
func (c *Config) check() []*FieldError {
	k := &checker{def: Default()}
	def := &k.def
	if !deviceIDRe.MatchString(c.DeviceID) {
		what := "没有写"
		if c.DeviceID != "" {
			what = fmt.Sprintf("现在是 %q", c.DeviceID)
		}
		k.fatal("device_id", `device_id = "leishan-honey-01"`,
			"盒子的名字必须填写：1 到 32 个小写英文字母、数字或“-”，以字母或数字开头，%s", what)
	}
	if c.PIN != "" {
		if msg := bundle.CheckPIN(c.PIN); msg != "" {
			k.fatal("pin", `pin = "502817"（或者删掉这一行，盒子会自己生成密码，写在 `+filepath.Join(c.StateDir, PINFile)+`）`, "%s", msg)
		}
	}
	for _, p := range []struct {
		key string
		v   *string
		d   string
	}{
		{"state_dir", &c.StateDir, def.StateDir}, {"catalogue", &c.Catalogue, def.Catalogue},
		{"rule_pack", &c.RulePack, def.RulePack}, {"speech.model_dir", &c.Speech.ModelDir, def.Speech.ModelDir},
		{"record.dir", &c.Record.Dir, def.Record.Dir},
	} {
		if !filepath.IsAbs(*p.v) {
			fallback(k, p.v, p.d, p.key, fmt.Sprintf("%s = %q", lastPart(p.key), p.d), "要写以 / 开头的完整路径，现在是 %q", *p.v)
		}
	}
	if host, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		fallback(k, &c.HTTP.Listen, def.HTTP.Listen, "http.listen", `listen = ":8080"`, "要写成“地址:端口”，现在是 %q", c.HTTP.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.ContainsAny(host, " /") {
		fallback(k, &c.HTTP.Listen, def.HTTP.Listen, "http.listen", `listen = ":8080"`, "端口要在 1 到 65535 之间，现在是 %q", c.HTTP.Listen)
	}

	g, dg := &c.GPIO, def.GPIO
	pins := []struct {
		key string
		n   *int
		d   int
	}{
		{"gpio.big_button", &g.BigButton, dg.BigButton}, {"gpio.next_button", &g.NextButton, dg.NextButton},
		{"gpio.prev_button", &g.PrevButton, dg.PrevButton}, {"gpio.light_button", &g.LightButton, dg.LightButton},
		{"gpio.mark_button", &g.MarkButton, dg.MarkButton},
		{"gpio.led_red", &g.LEDRed, dg.LEDRed}, {"gpio.led_green", &g.LEDGreen, dg.LEDGreen}, {"gpio.led_blue", &g.LEDBlue, dg.LEDBlue},
	}
	for _, p := range pins {
		if *p.n < 0 || *p.n > 27 {
			fallback(k, p.n, p.d, p.key, fmt.Sprintf("%s = %d", lastPart(p.key), p.d), "要写 BCM 编号 0 到 27（GPIO17 写 17，不是排针的针脚号），现在是 %d", *p.n)
		}
	}
	used := map[int]string{}
	for _, p := range pins {
		if other, dup := used[*p.n]; dup {
			// Two parts on one line cannot both work, and which one to
			// move is the installer's call.
			k.fatal(p.key, fmt.Sprintf("%s = %d", lastPart(p.key), p.d), "GPIO%d 已经接了 %s，两个东西不能接同一个脚", *p.n, other)
			continue
		}
		used[*p.n] = p.key
	}
	if !filepath.IsAbs(g.RingPWMChip) {
		fallback(k, &g.RingPWMChip, dg.RingPWMChip, "gpio.ring_pwm_chip", `ring_pwm_chip = "/sys/class/pwm/pwmchip0"`, "要写以 / 开头的完整路径，现在是 %q", g.RingPWMChip)
	}
	if g.RingPWMChannel < 0 || g.RingPWMChannel > 3 {
		fallback(k, &g.RingPWMChannel, dg.RingPWMChannel, "gpio.ring_pwm_channel", "ring_pwm_channel = 0", "要写 0 到 3，现在是 %d", g.RingPWMChannel)
	}
	if !oneOf(g.RingLevel, "off", "low", "mid", "high") {
		fallback(k, &g.RingLevel, dg.RingLevel, "gpio.ring_level", `ring_level = "mid"`, "要写 off（关）、low（弱）、mid（中）或 high（强），现在是 %q", g.RingLevel)
	}
	if g.Debounce.Duration < time.Millisecond || g.Debounce.Duration > 200*time.Millisecond {
		fallback(k, &g.Debounce, dg.Debounce, "gpio.debounce", `debounce = "30ms"`, "要在 1ms 到 200ms 之间，现在是 %s", g.Debounce)
	}
	if g.LongPress.Duration < time.Second || g.LongPress.Duration > 10*time.Second {
		fallback(k, &g.LongPress, dg.LongPress, "gpio.long_press", `long_press = "3s"`, "要在 1s 到 10s 之间，现在是 %s", g.LongPress)
	}

	v, dv := &c.Video, def.Video
	if !oneOf(v.Source, "rpicam", "v4l2", "test") {
		fallback(k, &v.Source, dv.Source, "video.source", `source = "rpicam"`, "要写 rpicam（树莓派摄像头）、v4l2（USB 摄像头）或 test（测试画面），现在是 %q", v.Source)
	}
	if v.Source == "v4l2" && !strings.HasPrefix(v.Device, "/dev/") {
		fallback(k, &v.Device, dv.Device, "video.device", `device = "/dev/video0"`, "USB 摄像头要写 /dev/video 开头的设备，现在是 %q", v.Device)
	}
	size := func(key, format string, args ...any) {
		k.errs = append(k.errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...), Example: "width = 720 和 height = 1280（竖屏），或者两行都删掉",
			Default: "按 portrait 自动定大小"})
		v.Width, v.Height = 0, 0
	}
	switch {
	case v.Width == 0 && v.Height == 0: // derived from portrait
	case v.Width < 160 || v.Height < 160 || v.Width > 1920 || v.Height > 1920:
		size("video.width", "画面大小 %dx%d 不行，宽和高都要在 160 到 1920 之间", v.Width, v.Height)
	case v.Width%2 != 0 || v.Height%2 != 0:
		size("video.width", "画面大小 %dx%d 不行，宽和高都要是双数", v.Width, v.Height)
	case v.Portrait && v.Width > v.Height:
		size("video.portrait", "设了竖屏（portrait = true），但 %dx%d 是横的；把 width 和 height 对调", v.Width, v.Height)
	case !v.Portrait && v.Width < v.Height:
		size("video.portrait", "设了横屏（portrait = false），但 %dx%d 是竖的；改成 portrait = true", v.Width, v.Height)
	}
	if v.FPS < 1 || v.FPS > 60 {
		fallback(k, &v.FPS, dv.FPS, "video.fps", "fps = 30", "每秒画面数要在 1 到 60 之间，现在是 %d", v.FPS)
	}
	if v.BitrateKbps < 300 || v.BitrateKbps > 8000 {
		fallback(k, &v.BitrateKbps, dv.BitrateKbps, "video.bitrate_kbps", "bitrate_kbps = 2500", "码率要在 300 到 8000 之间，现在是 %d", v.BitrateKbps)
	}

	a, da := &c.Audio, def.Audio
	if !oneOf(a.Source, "alsa", "test") {
		fallback(k, &a.Source, da.Source, "audio.source", `source = "alsa"`, "要写 alsa（麦克风）或 test（测试声音），现在是 %q", a.Source)
	}
	if a.SampleRate != 16000 && a.SampleRate != 44100 && a.SampleRate != 48000 {
		fallback(k, &a.SampleRate, da.SampleRate, "audio.sample_rate", "sample_rate = 48000", "要写 16000、44100 或 48000，现在是 %d", a.SampleRate)
	}
	if a.Channels != 1 && a.Channels != 2 {
		fallback(k, &a.Channels, da.Channels, "audio.channels", "channels = 1", "要写 1（单声道）或 2（立体声），现在是 %d", a.Channels)
	}
	if c.Record.QuotaMB < 256 || c.Record.QuotaMB > MaxQuotaMB {
		fallback(k, &c.Record.QuotaMB, def.Record.QuotaMB, "record.quota_mb", "quota_mb = 8192",
			"录像最多占用的空间要在 256 到 %d（MB）之间，现在是 %d", MaxQuotaMB, c.Record.QuotaMB)
	}

	names := map[string]bool{}
	kept := c.Dest[:0:0]
	for i, d := range c.Dest {
		key := func(f string) string { return fmt.Sprintf("destination[%d].%s", i, f) }
		u, err := url.Parse(d.URL)
		drop := func(f, example, format string, args ...any) {
			k.dropped(key(f), example, format+"；这个推流地址先不用，其他的照常", args...)
		}
		switch {
		case d.Name == "":
			drop("name", `name = "douyin"`, "推流地址要有名字")
		case names[d.Name]:
			drop("name", `name = "kuaishou"`, "名字 %q 用了两次，每个推流地址的名字要不一样", d.Name)
		case !oneOf(d.Kind, "rtmp", "whip"):
			drop("kind", `kind = "rtmp"`, "类型要写 rtmp 或 whip，现在是 %q", d.Kind)
		case err != nil || u.Host == "":
			drop("url", `url = "rtmp://push.example.com/live"`, "%q 不是网址", d.URL)
		case d.Kind == "rtmp" && !oneOf(u.Scheme, "rtmp", "rtmps"):
			drop("url", `url = "rtmp://push.example.com/live"`, "rtmp 推流地址要以 rtmp:// 或 rtmps:// 开头，现在是 %q", d.URL)
		case d.Kind == "whip" && !oneOf(u.Scheme, "http", "https"):
			drop("url", `url = "https://whip.example.com/whip/endpoint"`, "whip 推流地址要以 http:// 或 https:// 开头，现在是 %q", d.URL)
		default:
			kept = append(kept, d)
		}
		names[d.Name] = true
	}
	if len(kept) == 0 {
		kept = nil
	}
	c.Dest = kept
	if r := c.Review.URL; r != "" {
		if u, err := url.Parse(r); err != nil || !oneOf(u.Scheme, "http", "https") || u.Host == "" {
			fallback(k, &c.Review.URL, "", "review.url", `url = "https://review.example.org/"`,
				"审核服务的网址要以 http:// 或 https:// 开头，现在是 %q；录下的片段先留在盒子里", r)
		}
	}
	return k.errs
}

// MaxQuotaMB bounds record.quota_mb (1 TiB): the quota is used in bytes,
// and a larger number overflowed into "no quota".
const MaxQuotaMB = 1 << 20

func lastPart(key string) string {
	if i := strings.LastIndex(key, "."); i >= 0 {
		return key[i+1:]
	}
	return key
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
