// Command weaklink runs the weak-link bench (make bench-weaklink): every
// selected profile against cunbo and the ffmpeg baseline, writing
// weaklink.md, weaklink.json and PNG plots. It needs root.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cunbo/cunbo/bench/weaklink"
)

func main() {
	profiles := flag.String("profiles", "", "comma-separated profiles (good4g,rural4g,3g,stepdown,outage,flapping); empty = all")
	out := flag.String("out", "bench/out", "report directory")
	runs := flag.Int("runs", 1, "runs per profile and system (medians are reported)")
	scale := flag.Float64("scale", 1, "shorten the steady profiles (good4g, rural4g, 3g) by this factor, min 30 s")
	systems := flag.String("systems", "cunbo,baseline", "systems to run")
	steadyRuns := flag.Int("steady-runs", 0, "runs of the steady profiles (good4g, rural4g, 3g), which are long; 0 = -runs")
	baselineRuns := flag.Int("baseline-runs", 0, "runs of the baseline per profile; 0 = -runs")
	verbose := flag.Bool("v", false, "log the box's pipeline and every adaptation sample (debug level)")
	flag.Parse()
	plan := runPlan{runs: *runs, steady: *steadyRuns, baseline: *baselineRuns}
	if err := run(*profiles, *out, plan, *scale, *systems, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "weaklink:", err)
		os.Exit(1)
	}
}

// runPlan says how many times each profile runs per system: medians of
// repeated runs, with the long steady profiles and the baseline (a fixed
// reference) allowed fewer.
type runPlan struct{ runs, steady, baseline int }

func (r runPlan) count(p weaklink.Profile, system string) int {
	n := r.runs
	if len(p.Events) == 0 && r.steady > 0 {
		n = r.steady
	}
	if system == "baseline" && r.baseline > 0 {
		n = min(n, r.baseline)
	}
	return max(1, n)
}

func run(names, out string, plan runPlan, scale float64, systems string, verbose bool) error {
	ps, err := weaklink.Select(names, scale)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// nginx and ffmpeg run with their own working directories: paths
	// handed to them must be absolute.
	out, err = filepath.Abs(out)
	if err != nil {
		return err
	}
	work := filepath.Join(out, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	clip, err := weaklink.MakeClip(ctx, work)
	if err != nil {
		return err
	}
	var log *slog.Logger
	if verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rep := weaklink.NewReport(plan.runs)
	for _, p := range ps {
		for _, sys := range splitComma(systems) {
			var results []*weaklink.Result
			runs := plan.count(p, sys)
			for i := range runs {
				fmt.Fprintf(os.Stderr, "weaklink: %s / %s run %d/%d (%v)\n", p.Name, sys, i+1, runs, p.Duration)
				r, err := weaklink.Run(ctx, p, sys, weaklink.Options{Dir: work, Clip: clip, NetID: 10 + os.Getpid()%100, Logger: log})
				if err != nil {
					return fmt.Errorf("%s/%s: %w", p.Name, sys, err)
				}
				results = append(results, r)
			}
			m := weaklink.Median(results)
			m.Runs = len(results)
			rep.Add(p.Name, sys, m)
		}
	}
	// The report states the emulator (and warns if delay, jitter and loss
	// were not emulated) from the results themselves.
	if err := rep.Write(out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "weaklink: report in %s\n", filepath.Join(out, "weaklink.md"))
	return nil
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
