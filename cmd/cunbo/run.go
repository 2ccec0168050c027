package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/config"
	"github.com/cunbo/cunbo/firmware/memlimit"
	"github.com/cunbo/cunbo/firmware/provision"
	"github.com/cunbo/cunbo/firmware/sdnotify"
)

// exitConfig is sysexits' EX_CONFIG: the unit restarts the service anyway,
// but the journal shows at a glance that the file needs fixing.
const exitConfig = 78

// runRun is the box daemon systemd starts: load the configuration, build
// the hardware and the pipeline, serve the phone page, tell systemd when
// ready and keep its watchdog fed while the pipeline is healthy.
func runRun(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	started := time.Now()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", config.DefaultPath, "configuration file")
	desk := fs.Bool("desk", false, "no GPIO board: use a virtual panel (buttons on the phone page only)")
	httpAddr := fs.String("http", "", "override the phone page's listen address from the config")
	verbose := fs.Bool("v", false, "debug logging")
	printKey := fs.Bool("print-key", false, "print the box's public key and id (made on first use) for cunbo-review box add, then exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cunbo run [--config /etc/cunbo/cunbo.toml] [--desk] [--http ADDR] [--print-key]")
		fmt.Fprintln(stderr, "运行直播盒子（由 systemd 启动）。Runs the box daemon (started by systemd).")
		fs.PrintDefaults()
	}
	if code, ok := parseArgs(fs, args, stderr); !ok {
		return code
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	// journald stamps every line itself.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	notifier := sdnotify.New()
	limit, from := memlimit.Set(os.Getenv)
	log.Info("memory limit", "mib", limit>>20, "from", from)

	// A configuration from a setup bundle, if one was applied (and came
	// up, or is on trial); else the file. Not for --print-key, often run
	// by hand as root: the bundle store would be made root's.
	var prov *app.Provisioning
	var cfg *config.Config
	var warnings []*config.FieldError
	var err error
	if *printKey {
		cfg, warnings, err = config.Load(*path)
	} else {
		cfg, warnings, prov, err = app.LoadConfig(*path, provision.DirStick{Globs: app.StickGlobs}, log)
	}
	if err != nil {
		// One problem a line, not slog's quoted "\n": the journal shows
		// every line as it is, and the trainer fixes them all at once.
		fmt.Fprintf(stderr, "配置文件 %s 有误，盒子不会开播 (configuration error):\n", *path)
		lines := strings.Split(strings.TrimPrefix(err.Error(), "config: "), "\n")
		for _, line := range lines {
			fmt.Fprintln(stderr, "  "+line)
		}
		log.Error("配置文件有误，盒子不会开播 (configuration error)", "file", *path, "problems", len(lines))
		_ = notifier.Status("configuration error: " + lines[0])
		return exitConfig
	}
	for _, w := range warnings {
		log.Warn("配置有问题，盒子照常运行 (config problem worked around)", "problem", w.Error())
	}
	if *printKey {
		if err := printBoxKey(cfg.StateDir, stdout); err != nil {
			fmt.Fprintf(stderr, "cunbo run: %v\n", err)
			return 1
		}
		return 0
	}
	pin, created, err := config.BoxPIN(cfg)
	if err != nil {
		log.Error("cannot set up the phone page's PIN", "err", err)
		_ = notifier.Status(err.Error())
		return 1
	}
	if created {
		log.Warn("这台盒子的手机页面密码已生成，请抄到盒子的标签上 (new PIN made for this box; copy it onto the label)",
			"file", filepath.Join(cfg.StateDir, config.PINFile))
	}
	cfg.PIN = pin
	opts, err := app.FromConfig(cfg, app.BuildOptions{VirtualPanel: *desk, HTTPAddr: *httpAddr, ConfigProblems: warnings, Logger: log})
	if err != nil {
		log.Error("cannot build the box", "err", err)
		_ = notifier.Status(err.Error())
		return 1
	}
	opts.Notifier = notifier
	opts.Provision = prov
	if iv, ok, err := sdnotify.WatchdogInterval(os.Getenv); err != nil {
		log.Warn("watchdog", "err", err)
	} else if ok {
		opts.WatchdogInterval = iv
	}
	a, err := app.New(opts)
	if err != nil {
		log.Error("cannot build the box", "err", err)
		return 1
	}
	err = a.Run(ctx, func(addr string) {
		log.Info("ready", "device", cfg.DeviceID, "phone_page", addr, "took", time.Since(started).Round(time.Millisecond))
		fmt.Fprintf(stdout, "cunbo: ready in %v; phone page on %s\n", time.Since(started).Round(time.Millisecond), addr)
	})
	if errors.Is(err, app.ErrRestart) {
		// systemd starts the box again (Restart=always) with the other
		// configuration.
		log.Info("restarting for another configuration")
		return 1
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("box stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
