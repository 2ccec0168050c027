package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/config"
	"github.com/cunbo/cunbo/firmware/memlimit"
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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cunbo run [--config /etc/cunbo/cunbo.toml] [--desk] [--http ADDR]")
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

	cfg, err := config.Load(*path)
	if err != nil {
		log.Error("配置文件有误，盒子不会开播 (configuration error)", "err", err)
		_ = notifier.Status("configuration error: " + err.Error())
		return exitConfig
	}
	opts, err := app.FromConfig(cfg, app.BuildOptions{VirtualPanel: *desk, HTTPAddr: *httpAddr, Logger: log})
	if err != nil {
		log.Error("cannot build the box", "err", err)
		_ = notifier.Status(err.Error())
		return 1
	}
	opts.Notifier = notifier
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
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("box stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
