package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/memlimit"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runSim runs the whole box pipeline on a desktop: the test pattern as the
// camera, looping speech as the microphone, the demo (or a given)
// catalogue, and goes live at once.
func runSim(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg simConfig
	var rtmpURLs stringList
	fs.Var(&rtmpURLs, "rtmp", "publish to this RTMP/RTMPS URL (repeatable); every user of this computer can read it with ps: give a URL with a stream key by --rtmp-file or "+rtmpEnv)
	rtmpFile := fs.String("rtmp-file", "", "publish to the RTMP/RTMPS URLs in this `file`, one a line (keeps the stream key out of ps and the shell history); "+rtmpEnv+"=URL in the environment does the same")
	duration := fs.Duration("duration", 0, "stop after this long and exit 0 (default: until Ctrl-C)")
	fs.BoolVar(&cfg.Portrait, "portrait", false, "portrait 720×1280 (phone viewers) instead of landscape 1280×720")
	fs.IntVar(&cfg.Card, "card", 1, "show product card N (from 1) from the start; 0 hides the card")
	dataDir := fs.String("data", defaultSimDataDir(), "keep the recording, flagged moments and the log in this `dir`")
	fs.StringVar(&cfg.RecordDir, "record", "", "record the broadcast into this directory (fMP4 ring; default: DIR/recording of --data)")
	quotaMB := fs.Int64("record-quota-mb", 2048, "disk quota of the recording in MiB")
	fs.StringVar(&cfg.PreviewAddr, "preview", "127.0.0.1:8554", "RTSP preview listen address (this computer only; 0.0.0.0:8554 opens it to the network, unauthenticated); empty disables it")
	fs.StringVar(&cfg.CatalogCSV, "catalog", "", "product catalogue CSV (default: the built-in demo catalogue)")
	fs.StringVar(&cfg.PhotoDir, "photos", "", "folder of product photos (default: the CSV's folder)")
	fs.StringVar(&cfg.FontPath, "font", "", "CJK font for the cards (default: Noto Sans CJK)")
	fs.StringVar(&cfg.AudioWAV, "audio", "", "16-bit PCM WAV looped as the microphone (default: the shared test speech, else a tone)")
	fs.IntVar(&cfg.VideoKbps, "kbps", 1500, "video bitrate in kbit/s")
	verbose := fs.Bool("v", false, "log everything the pipeline does")
	printKey := fs.Bool("print-key", false, "print the simulated box's public key and id (made in --data on first use) for cunbo-review box add, then exit")
	httpFlags := addSimHTTPFlags(fs)
	stick := fs.String("stick", "", "with --http: take setup bundles from this `folder`, standing in for a USB stick (with --review, also those published for the box); the box restarts itself to use one")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cunbo sim [--rtmp-file FILE | --rtmp URL]... [--duration D] [--portrait] [--card N] [--data DIR] [--record DIR] [--preview ADDR] [--catalog CSV --photos DIR] [--http ADDR [--stick DIR] [--review URL]]")
		fmt.Fprintln(stderr, "在电脑上模拟一台直播盒子：测试画面 + 循环播放的讲话声 + 商品卡片。")
		fmt.Fprintln(stderr, "Runs a simulated box: test pattern, looping speech and product cards.")
		fs.PrintDefaults()
	}
	if code, ok := parseArgs(fs, args, stderr); !ok {
		return code
	}
	if cfg.Card < 0 {
		fmt.Fprintln(stderr, "cunbo sim: --card counts from 1 (0 hides the card)")
		return 2
	}
	if *stick != "" && httpFlags.addr == "" {
		fmt.Fprintln(stderr, "cunbo sim: --stick needs --http (bundles are taken while the box is idle)")
		return 2
	}
	if *duration < 0 || *quotaMB <= 0 {
		fmt.Fprintln(stderr, "cunbo sim: --duration and --record-quota-mb must be positive")
		return 2
	}
	urls, err := simRTMPURLs(rtmpURLs, *rtmpFile, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo sim: %v\n", err)
		return 2
	}
	cfg.RTMP = urls
	cfg.RecordQuota = *quotaMB << 20
	if *dataDir == "" {
		fmt.Fprintln(stderr, "cunbo sim: --data must name a directory")
		return 2
	}
	if err := os.MkdirAll(*dataDir, 0o750); err != nil {
		fmt.Fprintf(stderr, "cunbo sim: 无法创建数据目录 (cannot create the data directory): %v\n", err)
		return 1
	}
	cfg.DataDir = *dataDir
	if *printKey {
		if err := printBoxKey(cfg.DataDir, stdout); err != nil {
			fmt.Fprintf(stderr, "cunbo sim: %v\n", err)
			return 1
		}
		return 0
	}
	if cfg.RecordDir == "" {
		cfg.RecordDir = filepath.Join(*dataDir, "recording")
	}
	logger, closeLog, err := simLogger(*dataDir, *verbose, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo sim: %v\n", err)
		return 1
	}
	defer closeLog()
	cfg.Logger = logger

	limit, from := memlimit.Set(os.Getenv)
	logger.Info("memory limit", "mib", limit>>20, "from", from)
	if err := httpFlags.apply(&cfg); err != nil {
		fmt.Fprintf(stderr, "cunbo sim: %v\n", err)
		return 1
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if httpFlags.addr != "" {
		return runSimBox(ctx, cfg, httpFlags, *stick, stdin, stdout, stderr)
	}
	opts, err := buildSim(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo sim: %v\n", err)
		return 2
	}
	p := opts.Pipeline
	runCtx, stopRun := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(runCtx) }()
	defer func() {
		stopRun()
		<-runErr
	}()

	if addr := p.PreviewAddr(); addr != "" {
		url := "rtsp://" + displayHost(addr) + "/live"
		fmt.Fprintf(stdout, "本地预览：用 VLC 或 ffplay 打开 %s\n", url)
		fmt.Fprintf(stdout, "Local preview: open %s in VLC or ffplay (ffplay -rtsp_transport tcp %s)\n", url, url)
	}
	if err := waitEncoding(ctx, p.Stats); err != nil {
		return simExit(ctx, stderr, err)
	}
	if err := p.GoLive(ctx); err != nil {
		return simExit(ctx, stderr, err)
	}
	for _, o := range p.Stats().Outputs {
		if o.RTMP != nil {
			fmt.Fprintf(stdout, "正在直播 (live): %s\n", o.URL)
		}
	}
	if len(cfg.RTMP) == 0 {
		fmt.Fprintln(stdout, "没有推流地址，只在本地预览 (no --rtmp: local preview only)")
	}
	<-ctx.Done()
	if err := p.End(); err != nil {
		fmt.Fprintf(stderr, "cunbo sim: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "直播已结束 (stream ended)")
	return 0
}

// runSimBox builds and runs the simulated box with its phone page, and
// builds it again from the applied bundle each time a setup bundle asks
// for a restart, in this process, as systemd restarts `cunbo run`.
func runSimBox(ctx context.Context, base simConfig, hf *simHTTPFlags, stick string, stdin io.Reader, stdout, stderr io.Writer) int {
	out := &syncWriter{w: stdout}
	restore := rawTerminal(stdin)
	defer restore()
	keys := stdinKeys(stdin)
	// Bundles come by a stick, or from the review service once a stick
	// brought the organisation's root.
	bundles := stick != "" || base.ReviewURL != ""
	for restarted := false; ; restarted = true {
		cfg := base
		var prov *app.Provisioning
		upLine := ""
		if bundles {
			var err error
			if prov, err = simProvisioning(&cfg, stick, cfg.Logger); err != nil {
				fmt.Fprintf(stderr, "cunbo sim: %v\n", err)
				return 1
			}
			if prov == nil {
				out.printf("⚠️ 设置包用不了，盒子照常运行 (setup bundles off: see sim.log)\n")
			} else if restarted {
				upLine = appliedLine(prov)
			}
		}
		opts, err := buildSim(cfg, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "cunbo sim: %v\n", err)
			return 2
		}
		opts.Provision = prov
		code, restart := runSimHTTP(ctx, opts, cfg, hf, upLine, keys, out, stderr)
		if !restart || ctx.Err() != nil {
			return code
		}
	}
}

// simExit maps a start-up failure to an exit status: being told to stop
// (Ctrl-C, --duration) is a normal end.
func simExit(ctx context.Context, stderr io.Writer, err error) int {
	if ctx.Err() != nil {
		return 0
	}
	fmt.Fprintf(stderr, "cunbo sim: 无法开播 (cannot go live): %v\n", err)
	return 1
}

// waitEncoding waits for the encoder's first video so GoLive has a stream
// to send.
func waitEncoding(ctx context.Context, stats func() pipelineStats) error {
	deadline := time.Now().Add(15 * time.Second)
	for stats().Encoder.VideoUnits == 0 {
		if time.Now().After(deadline) {
			return errors.New("encoder produced no video in 15 s (is ffmpeg installed?)")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// displayHost turns a listen address into one a local player can open.
func displayHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// defaultSimDataDir is where the simulator keeps what a box keeps on its SD
// card: the user's state directory, so a demo's flagged moments outlive it.
func defaultSimDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "cunbo-sim")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "cunbo-sim")
	}
	return filepath.Join(os.TempDir(), "cunbo-sim")
}

// simLogger sends the pipeline's log to DIR/sim.log, so the terminal stays
// the box's panel: state changes and warnings, nothing else. Errors still
// reach the terminal (a missing ffmpeg must not go unseen); -v sends
// everything there too.
func simLogger(dir string, verbose bool, stderr io.Writer) (*slog.Logger, func(), error) {
	path := filepath.Join(dir, "sim.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	termLevel := slog.LevelError
	if verbose {
		termLevel = slog.LevelInfo
	}
	h := slog.NewMultiHandler(
		slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}),
		slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: termLevel}),
	)
	return slog.New(h), func() { _ = f.Close() }, nil
}
