package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/config"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/secret"
)

// simHTTPFlags are the phone-page options of `cunbo sim`.
type simHTTPFlags struct {
	addr     string
	pin      string
	open     bool
	review   string
	practice bool
	captions *simCaptionFlags
}

func addSimHTTPFlags(fs *flag.FlagSet) *simHTTPFlags {
	f := &simHTTPFlags{}
	fs.StringVar(&f.addr, "http", "", "serve the phone page and API on this address (e.g. 127.0.0.1:8080); the box then starts idle")
	fs.StringVar(&f.pin, "pin", "", "the phone page's PIN, 6 to 8 random digits (default: a random one, printed)")
	fs.BoolVar(&f.open, "open", false, "with --http: open the phone page in the desktop's browser")
	fs.StringVar(&f.review, "review", "", "with --http: upload flagged moments to the review service at this `URL` while idle (the box's key is made in --data; enrol it with cunbo-review box add)")
	fs.BoolVar(&f.practice, "practice", false, "with --http: start a practice (练习) at once: everything as live, nothing published; without --speech-model the customers' sample answers stand in for her voice")
	f.captions = addSimCaptionFlags(fs)
	return f
}

// apply puts the phone page's, captions' and uploads' flags into the
// box's description. Without --pin the simulator draws a PIN as a new box
// does; a given one must pass the box's rule (app.Build checks it).
func (f *simHTTPFlags) apply(cfg *simConfig) error {
	cfg.HTTPAddr, cfg.PIN, cfg.ReviewURL = f.addr, f.pin, f.review
	if f.addr != "" && f.pin == "" {
		pin, err := config.RandomPIN()
		if err != nil {
			return err
		}
		cfg.PIN = pin
	}
	c := f.captions
	cfg.SpeechModel, cfg.SpeechVAD, cfg.SpeechWorker, cfg.RulePack, cfg.FlaggedDir = c.model, c.vad, c.worker, c.rules, c.flagged
	return nil
}

// runSimHTTP runs the simulated box the way the real one runs — idle until
// the big button is pressed — with its phone page, and a terminal panel:
// state and LED changes are printed, single keys press the buttons.
// It returns restart when the box must be built again for another
// configuration (app.ErrRestart), as systemd restarts `cunbo run`.
// upLine, when not empty, is printed once the box is up (what became of
// the setup bundle it restarted for).
func runSimHTTP(ctx context.Context, opts app.Options, cfg simConfig, hf *simHTTPFlags, upLine string, keys <-chan byte, out *syncWriter, stderr io.Writer) (code int, restart bool) {
	p, panel, pin := opts.Pipeline, opts.Panel, opts.PIN
	if caps := opts.Compliance; caps != nil {
		caps.Loop().AddSink(warningPrinter(out))
	}
	if up := opts.Uploader; up != nil {
		out.printf("审核服务 (review): %s   盒子编号 (box id): %s\n", hf.review, up.BoxID())
	}
	opts.OnStatus = statusPrinter(out, panel.Virtual)
	opts.PracticeScript = hf.practice
	a, err := app.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo sim: %v\n", err)
		return 2, false
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(addr string) { ready <- addr }) }()
	select {
	case err := <-done:
		return simRunEnd(err, stderr)
	case addr := <-ready:
		url := "http://" + displayHost(addr) + "/"
		out.printf("\n手机页面 (phone page): %s\n密码 (PIN): %s\n", url, pin)
		if pa := p.PreviewAddr(); pa != "" {
			out.printf("RTSP 预览 (preview): rtsp://%s/live\n", displayHost(pa))
		}
		out.printf("数据 (data): %s   (录像 recording, 标记片段 flagged, 日志 sim.log)\n", cfg.DataDir)
		out.printf("%s\n", keyHelp)
		if upLine != "" {
			out.printf("%s\n", upLine)
		}
		if hf.open {
			openBrowser(url, out)
		}
		if hf.practice {
			startSimPractice(a, out)
		}
	}
	// The keys go to this box only: a rebuilt box takes them over.
	keysCtx, stopKeys := context.WithCancel(ctx)
	defer stopKeys()
	go readKeys(keysCtx, keys, panel.Virtual, out, func() string { return cardLine(p.Card()) })
	code, restart = simRunEnd(<-done, stderr)
	if code == 0 && !restart {
		out.printf("模拟盒子已关闭 (simulator stopped)\n")
	}
	return code, restart
}

// simRunEnd maps the end of app.Run to an exit status, or a restart.
func simRunEnd(err error, stderr io.Writer) (int, bool) {
	switch {
	case errors.Is(err, app.ErrRestart):
		return 0, true
	case err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(stderr, "cunbo sim: %v\n", err)
		return 1, false
	}
	return 0, false
}

// stdinKeys reads the terminal once for every box the simulator builds.
func stdinKeys(stdin io.Reader) <-chan byte {
	ch := make(chan byte)
	go func() {
		defer close(ch)
		r := bufio.NewReader(stdin)
		for {
			c, err := r.ReadByte()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	return ch
}

const keyHelp = `按键 (keys): b 大按钮/开播 (big)   B 按住大按钮3秒/下播 (hold big)   n 下一个 (next)   p 上一个 (prev)
             N 隐藏卡片，未开播时开始练习 (hide card; idle: start a practice)   l 灯光 (light)   L 关灯 (light off)   m 我说错了 (mark)   Ctrl-C 退出 (quit)`

// simKeys maps a key to a virtual button and how long it is held.
var simKeys = map[byte]struct {
	button string
	hold   time.Duration
}{
	'b': {firmware.ButtonBig, 100 * time.Millisecond},
	'B': {firmware.ButtonBig, 3200 * time.Millisecond},
	'n': {firmware.ButtonNext, 100 * time.Millisecond},
	'N': {firmware.ButtonNext, 3200 * time.Millisecond},
	'p': {firmware.ButtonPrev, 100 * time.Millisecond},
	'P': {firmware.ButtonPrev, 3200 * time.Millisecond},
	'l': {firmware.ButtonLight, 100 * time.Millisecond},
	'L': {firmware.ButtonLight, 3200 * time.Millisecond},
	'm': {firmware.ButtonMark, 100 * time.Millisecond},
}

// readKeys turns terminal keys into presses on the virtual panel, through
// the same debounce and long-press code as the real buttons.
func readKeys(ctx context.Context, keys <-chan byte, v *hw.Virtual, out *syncWriter, card func() string) {
	lastCard := card()
	for {
		var c byte
		select {
		case <-ctx.Done():
			return
		case k, ok := <-keys:
			if !ok {
				return
			}
			c = k
		}
		k, ok := simKeys[c]
		if !ok {
			if c == 'h' || c == '?' {
				out.printf("%s\n", keyHelp)
			}
			continue
		}
		if k.hold > time.Second {
			out.printf("按住 %s 按钮 3 秒… (holding %s)\n", k.button, k.button)
		}
		// Presses are sequential, like one thumb on the box.
		if err := v.Press(ctx, k.button, k.hold); err != nil {
			return
		}
		// Card changes do not change the box's state: show them too, once
		// the pipeline has switched.
		time.Sleep(150 * time.Millisecond)
		if c := card(); c != lastCard {
			out.printf("%s\n", c)
			lastCard = c
		}
	}
}

func cardLine(c pipeline.Card) string {
	switch {
	case c.Index < 0:
		return "🛍️ 没有商品卡片 (no cards)"
	case !c.Visible:
		return fmt.Sprintf("🛍️ 商品卡片已隐藏 (card hidden): %d %s", c.Index+1, c.Name)
	}
	return fmt.Sprintf("🛍️ 商品卡片 (card): %d %s", c.Index+1, c.Name)
}

// statusPrinter prints a line whenever what she would see on the box
// changes: the state, the LED or the ring light, and the box's own
// messages (network trouble, a failed start). Compliance warnings are
// printed by warningPrinter, straight from the loop.
func statusPrinter(out *syncWriter, v *hw.Virtual) func(firmware.Status) {
	var last string
	var lastNotice firmware.Notice
	return func(st firmware.Status) {
		panel := v.State()
		icon, label := web.Labels(st.State)
		line := fmt.Sprintf("%s %s (%s)   指示灯 LED: %s %s   灯光 ring: %s", icon, label, st.State, panel.Base, panel.Color, st.Ring)
		if line != last {
			out.printf("%s\n", line)
			last = line
		}
		for _, n := range newNotices(st.Warnings, lastNotice) {
			lastNotice = n
			// Compliance warnings come whole from warningPrinter; the
			// box's copy (firmware/box.go warningText) would repeat them.
			if strings.HasPrefix(n.Text, "口播提醒") {
				continue
			}
			out.printf("   📢 %s\n", n.Text)
		}
	}
}

// newNotices returns the notices after last in list (the box keeps only
// its newest few, so the list is matched by content, not by length).
func newNotices(list []firmware.Notice, last firmware.Notice) []firmware.Notice {
	if last.At.IsZero() {
		return list
	}
	for i := len(list) - 1; i >= 0; i-- {
		if list[i] == last {
			return list[i+1:]
		}
	}
	// last has scrolled out: everything newer than it is new.
	for i, n := range list {
		if n.At.After(last.At) {
			return list[i:]
		}
	}
	return nil
}

// warningPrinter prints every compliance warning as the phone page shows
// it: what to say instead, then what she said, then why in everyday words
// (the rule's own explanation is for her social worker).
func warningPrinter(out *syncWriter) compliance.WarningSink {
	return compliance.SinkFunc(func(w compliance.Warning) {
		line := fmt.Sprintf("   ⚠️ 刚才说了“%s”", w.Match)
		if w.Suggest != "" {
			line = fmt.Sprintf("   ⚠️ 换个说法：%s   (刚才说了“%s”)", w.Suggest, w.Match)
		}
		out.printf("%s  %s\n", line, compliance.PlainWhy(w.Category))
	})
}

func simDestination(urls []string) string {
	var shown []string
	for _, u := range urls {
		shown = append(shown, secret.URL(u))
	}
	return strings.Join(shown, "，")
}

// openBrowser starts the desktop's browser when there is a desktop.
func openBrowser(url string, out *syncWriter) {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		out.printf("没有图形桌面，请在浏览器中打开上面的地址 (no desktop: open the URL above)\n")
		return
	}
	path, err := exec.LookPath("xdg-open")
	if err != nil {
		out.printf("请在浏览器中打开上面的地址 (open the URL above in a browser)\n")
		return
	}
	cmd := exec.Command(path, url)
	if err := cmd.Start(); err != nil {
		out.printf("无法打开浏览器 (cannot open a browser): %v\n", err)
		return
	}
	go func() { _ = cmd.Wait() }()
}

// rawTerminal makes single key presses arrive without Enter when stdin is
// a terminal, and returns how to undo it. Elsewhere (a pipe, a test) keys
// are read as they come.
func rawTerminal(stdin io.Reader) func() {
	f, ok := stdin.(*os.File)
	if !ok {
		return func() {}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	stty := func(args ...string) error {
		cmd := exec.Command("stty", args...)
		cmd.Stdin = f
		return cmd.Run()
	}
	if err := stty("-icanon", "min", "1", "-echo"); err != nil {
		return func() {}
	}
	return func() { _ = stty("icanon", "echo") }
}

// syncWriter serialises terminal lines from the status and key goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, format, args...)
}
