package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
)

// benchRig is the box's control plane as the daemon runs it — state
// machine, virtual panel with its LED/ring/button goroutines, phone page
// server — over a stand-in pipeline, so the figures are the control
// plane's own (the media pipeline has its benchmarks in firmware/pipeline).
func benchRig(b *testing.B) (*hw.Virtual, *http.Client, string, context.CancelFunc) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	v := hw.NewVirtual(nil, firmware.ButtonBig, firmware.ButtonNext, firmware.ButtonPrev, firmware.ButtonLight, firmware.ButtonMark)
	presses, err := hw.WatchButtons(ctx, hw.ButtonOptions{}, v.Buttons()...)
	if err != nil {
		b.Fatal(err)
	}
	box, err := firmware.NewBox(firmware.Options{Pipeline: &pipeline{}, LED: v.LED, Ring: v.Ring, Buttons: presses,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = v.LED.Run(ctx) }()
	go func() { _ = v.Ring.Run(ctx) }()
	go func() { _ = box.Run(ctx) }()
	srv, err := web.New(web.Options{Box: box, PIN: "246813"})
	if err != nil {
		b.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() { _ = web.ListenAndServe(ctx, "127.0.0.1:0", srv, func(a string) { ready <- a }) }()
	base := "http://" + <-ready
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Post(base+"/api/login", "application/json", strings.NewReader(`{"pin":"246813"}`))
	if err != nil || resp.StatusCode != 204 {
		b.Fatalf("login: %v", err)
	}
	resp.Body.Close()
	return v, c, base, cancel
}

// BenchmarkPhoneButtonToLED is a tap on the phone page's big button until
// the status LED shows the new state (target ≤ 50 ms); each op is one tap
// and one 3 s-hold equivalent (press=long), both measured.
func BenchmarkPhoneButtonToLED(b *testing.B) {
	v, c, base, cancel := benchRig(b)
	defer cancel()
	// The stand-in pipeline goes live at once, so "starting" may be
	// gone before it is seen: the reaction is the LED leaving the old
	// state.
	waitLED := func(want ...string) {
		deadline := time.Now().Add(5 * time.Second)
		for !slices.Contains(want, v.State().Base) {
			if time.Now().After(deadline) {
				b.Fatalf("LED %q, want %q", v.State().Base, want)
			}
			runtime.Gosched()
		}
	}
	press := func(kind string) {
		resp, err := c.Post(base+"/api/button/big?press="+kind, "", nil)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		press("short")
		waitLED(hw.PatternStarting, hw.PatternLive)
		total += time.Since(start)
		waitLED(hw.PatternLive)
		start = time.Now()
		press("long")
		waitLED(hw.PatternEnding, hw.PatternIdle)
		total += time.Since(start)
		waitLED(hw.PatternIdle)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(2*b.N)/1000, "ms/press")
}

// BenchmarkIdleCPU is the control plane idling with a phone page open
// (events stream connected): CPU time over wall time, in percent of one
// core (target ≤ 1 %). Each op is 2 s of idling.
func BenchmarkIdleCPU(b *testing.B) {
	_, c, base, cancel := benchRig(b)
	defer cancel()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	cc := *c
	cc.Timeout = 0
	resp, err := cc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond) // past start-up
	var cpu, wall time.Duration
	b.ResetTimer()
	for range b.N {
		u0, w0 := cpuTime(b), time.Now()
		time.Sleep(2 * time.Second)
		cpu += cpuTime(b) - u0
		wall += time.Since(w0)
	}
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "%cpu")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
