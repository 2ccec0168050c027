package app_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/overlay"
)

// newDeskBox builds a simulated box (test pattern, tone, demo catalogue,
// virtual panel, phone page) without destinations.
func newDeskBox(b *testing.B) *app.App {
	b.Helper()
	epoch := time.Now()
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(true), Epoch: epoch})
	if err != nil {
		b.Fatal(err)
	}
	audio, err := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Epoch: epoch})
	if err != nil {
		b.Fatal(err)
	}
	cat, err := overlay.DemoCatalog()
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	pl, err := pipeline.New(pipeline.Config{Video: video, Audio: audio, Portrait: true, Catalog: cat,
		VideoKbps: 1200, Epoch: epoch, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.New(app.Options{Pipeline: pl, Panel: app.VirtualPanel(), HTTPAddr: "127.0.0.1:0", PIN: testPIN, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkStartToReady is service start to "ready" (READY=1 under
// systemd): building the box, starting the panel, the pipeline with its
// ffmpeg encoder and the phone page, until the first encoded picture
// (target ≤ 5 s).
func BenchmarkStartToReady(b *testing.B) {
	var total time.Duration
	for range b.N {
		start := time.Now()
		a := newDeskBox(b)
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx, func(string) { close(ready) }) }()
		select {
		case <-ready:
		case err := <-done:
			b.Fatalf("run: %v", err)
		}
		total += time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/ready")
}

// BenchmarkIdleCPUWholeBox is the simulated box idling (not live) for 3 s
// per op. The pipeline keeps capturing and encoding while idle so the
// phone preview works before going live, so this is far from the control
// plane's own idle figure (see BenchmarkIdleCPU in firmware/web): the Go
// process (which here also draws the test pattern, the real camera's
// work being in rpicam-vid) and the ffmpeg encoder are reported
// separately, in percent of one core.
func BenchmarkIdleCPUWholeBox(b *testing.B) {
	a := newDeskBox(b)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(string) { close(ready) }) }()
	defer func() { cancel(); <-done }()
	<-ready
	time.Sleep(time.Second)
	var self, kids, wall time.Duration
	b.ResetTimer()
	for range b.N {
		s0, k0, w0 := selfCPU(b), childrenCPU(), time.Now()
		time.Sleep(3 * time.Second)
		self += selfCPU(b) - s0
		kids += childrenCPU() - k0
		wall += time.Since(w0)
	}
	b.ReportMetric(100*self.Seconds()/wall.Seconds(), "%cpu-go")
	b.ReportMetric(100*kids.Seconds()/wall.Seconds(), "%cpu-ffmpeg")
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childrenCPU sums the CPU time of running child processes from /proc
// (RUSAGE_CHILDREN only counts children already waited for).
func childrenCPU() time.Duration {
	const clockTicks = 100 // USER_HZ on Linux
	me := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total time.Duration
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		// After the command: state ppid ... utime(12) stime(13), 0-based.
		if len(f) < 14 || f[1] != me {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * time.Second / clockTicks
	}
	return total
}
