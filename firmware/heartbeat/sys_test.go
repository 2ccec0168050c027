package heartbeat_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/heartbeat"
)

func TestParseThrottled(t *testing.T) {
	for _, tc := range []struct {
		in             string
		now, since, ok bool
	}{
		{"throttled=0x0\n", false, false, true},
		{"throttled=0x50005\n", true, true, true},  // under-voltage now and since boot
		{"throttled=0x50000", false, true, true},   // happened, over now
		{"throttled=0x4", true, false, true},       // throttled now
		{"throttled=0x80008", true, true, true},    // soft temperature limit
		{"throttled=0x100000", false, false, true}, // bits the box does not read
		{"", false, false, false},
		{"error=1 error_msg=\"Command not registered\"", false, false, false},
		{"throttled=", false, false, false},
		{"throttled=0xZZ", false, false, false},
		{"throttled=0x1ffffffff", false, false, false},
	} {
		now, since, ok := heartbeat.ParseThrottled(tc.in)
		if now != tc.now || since != tc.since || ok != tc.ok {
			t.Errorf("%q: %v %v %v, want %v %v %v", tc.in, now, since, ok, tc.now, tc.since, tc.ok)
		}
	}
}

func FuzzParseThrottled(f *testing.F) {
	for _, s := range []string{"throttled=0x0", "throttled=0x50005\n", "throttled=", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		now, since, ok := heartbeat.ParseThrottled(s)
		if !ok && (now || since) {
			t.Fatalf("%q: unknown but throttled", s)
		}
	})
}

// Linux reads a Pi's files and vcgencmd; a machine without them (a PC,
// a container) reports each reading unknown, not zero.
func TestLinuxSys(t *testing.T) {
	pi := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(pi, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/uptime", "12345.67 40000.00\n")
	write("sys/class/thermal/thermal_zone0/temp", "48312\n")
	write("bin/vcgencmd", "#!/bin/sh\n[ \"$1\" = get_throttled ] && echo throttled=0x50000\n")
	ctx := context.Background()
	l := heartbeat.Linux{Root: pi, Vcgencmd: filepath.Join(pi, "bin/vcgencmd")}
	if up, ok := l.Uptime(); !ok || up != 12345*time.Second+670*time.Millisecond {
		t.Errorf("uptime %v %v", up, ok)
	}
	if c, ok := l.TempC(); !ok || c != 48.312 {
		t.Errorf("temperature %v %v", c, ok)
	}
	if now, since, ok := l.Throttled(ctx); !ok || now || !since {
		t.Errorf("throttled %v %v %v", now, since, ok)
	}
	free, total, err := l.Disk(pi)
	if err != nil || total == 0 || free > total {
		t.Errorf("disk %d of %d, %v", free, total, err)
	}

	pc := heartbeat.Linux{Root: t.TempDir(), Vcgencmd: filepath.Join(t.TempDir(), "no-vcgencmd")}
	if _, ok := pc.Uptime(); ok {
		t.Error("uptime known without /proc/uptime")
	}
	if _, ok := pc.TempC(); ok {
		t.Error("temperature known without a thermal zone")
	}
	if _, _, ok := pc.Throttled(ctx); ok {
		t.Error("throttling known without vcgencmd")
	}
	if _, _, err := pc.Disk(filepath.Join(t.TempDir(), "gone")); err == nil {
		t.Error("disk of a missing folder")
	}
	// A sensor not wired reads nonsense: unknown, not 1000 °C.
	write("sys/class/thermal/thermal_zone0/temp", "1000000\n")
	if c, ok := l.TempC(); ok {
		t.Errorf("a broken sensor read as %v °C", c)
	}
	write("proc/uptime", "garbage")
	if _, ok := l.Uptime(); ok {
		t.Error("garbage uptime read")
	}
	if v := heartbeat.SoftwareVersion(); v == "" || strings.ContainsAny(v, " \n") || len(v) > 64 {
		t.Errorf("software version %q", v)
	}
}

// The link meter: stalled share of the live's time and mean bitrate.
func TestLinkMeter(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	type step func(m *heartbeat.LinkMeter)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	for _, tc := range []struct {
		name  string
		steps []step
		want  *heartbeat.LiveLink
	}{
		{"no live yet", nil, nil},
		{"a clean live", []step{
			func(m *heartbeat.LinkMeter) { m.Begin(at(0)) },
			func(m *heartbeat.LinkMeter) { m.Sample(2000); m.Sample(3000) },
			func(m *heartbeat.LinkMeter) { m.End(at(30)) },
		}, &heartbeat.LiveLink{Ended: at(30), StallPct: 0, MeanKbps: 2500}},
		{"two stalls", []step{
			func(m *heartbeat.LinkMeter) { m.Begin(at(0)) },
			func(m *heartbeat.LinkMeter) {
				m.Stalled(at(10), true)
				m.Stalled(at(11), true)
				m.Stalled(at(14), false)
			},
			func(m *heartbeat.LinkMeter) { m.Stalled(at(20), true); m.Stalled(at(24), false) },
			func(m *heartbeat.LinkMeter) { m.End(at(80)) },
		}, &heartbeat.LiveLink{Ended: at(80), StallPct: 10}},
		{"ends while stalled", []step{
			func(m *heartbeat.LinkMeter) { m.Begin(at(0)) },
			func(m *heartbeat.LinkMeter) { m.Stalled(at(50), true) },
			func(m *heartbeat.LinkMeter) { m.End(at(100)) },
		}, &heartbeat.LiveLink{Ended: at(100), StallPct: 50}},
		{"a second live replaces the first", []step{
			func(m *heartbeat.LinkMeter) { m.Begin(at(0)); m.Stalled(at(0), true); m.End(at(10)) },
			func(m *heartbeat.LinkMeter) { m.Begin(at(20)); m.Sample(100); m.End(at(30)) },
		}, &heartbeat.LiveLink{Ended: at(30), MeanKbps: 100}},
		{"samples and stalls outside a live are ignored", []step{
			func(m *heartbeat.LinkMeter) { m.Sample(9999); m.Stalled(at(0), true); m.End(at(5)) },
		}, nil},
	} {
		var m heartbeat.LinkMeter
		for _, s := range tc.steps {
			s(&m)
		}
		got := m.Last()
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
