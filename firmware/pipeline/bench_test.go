package pipeline

import (
	"bufio"
	"context"
	"encoding/binary"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/memlimit"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
)

// latencyProbe is a self-queued (inline) fan-out output, so it sees each
// video unit at the moment the fan-out hands it to the RTMP publisher's
// queue. It measures from the capture of the picture the unit encodes.
type latencyProbe struct {
	p  *Pipeline
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencyProbe) SelfQueued()                  {}
func (l *latencyProbe) SetTracks(stream.Tracks)      {}
func (l *latencyProbe) WriteAudio(*stream.AudioUnit) {}
func (l *latencyProbe) WriteVideo(u *stream.VideoUnit) {
	now := time.Now()
	if at, ok := l.p.CaptureTime(u.PTS); ok {
		l.mu.Lock()
		l.d = append(l.d, now.Sub(at))
		l.mu.Unlock()
	}
}

func benchDuration(b *testing.B) time.Duration {
	if s := os.Getenv("CUNBO_BENCH_PIPELINE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	return 60 * time.Second
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssBytes reads the process's resident set from /proc.
func rssBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkPipeline720p30 runs the whole pipeline (test pattern, card
// overlay, ffmpeg, RTMP to a local nginx) for 60 s (CUNBO_BENCH_PIPELINE
// overrides) and reports the Go process's share of one core (ffmpeg and
// nginx are other processes and excluded by RUSAGE_SELF), its peak RSS, and
// the capture-to-publisher latency: from the camera delivering a frame to
// the encoded access unit being handed to the RTMP publisher, whose send
// backlog on loopback is also reported (queued units add their wait on top).
func BenchmarkPipeline720p30(b *testing.B) {
	d := benchDuration(b)
	if os.Getenv("GOMEMLIMIT") == "" { // as the binary does
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(memlimit.For(1 << 30))) // a 1 GB Pi
	}
	for range b.N {
		ngx := rtmptest.New(b)
		epoch := time.Now()
		video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: Format(false), Epoch: epoch})
		if err != nil {
			b.Fatal(err)
		}
		// The box's microphone format (the simulator's speech WAV is 16 kHz,
		// whose 64 ms AAC frames add latency a real box does not have).
		mic, err := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Epoch: epoch})
		if err != nil {
			b.Fatal(err)
		}
		p := start(b, Config{Video: video, Audio: mic, Epoch: epoch, Catalog: demoCatalog(b), InitialCard: 0,
			RTMP: []string{ngx.URL("bench")}})
		probe := &latencyProbe{p: p}
		if err := p.AddOutput("latency", probe); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := p.GoLive(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		time.Sleep(2 * time.Second) // settle
		probe.mu.Lock()
		probe.d = probe.d[:0]
		probe.mu.Unlock()
		cpu0, t0 := cpuTime(), time.Now()
		var peakRSS int64
		maxBacklog := 0
		tick := time.NewTicker(250 * time.Millisecond)
		for time.Since(t0) < d {
			<-tick.C
			peakRSS = max(peakRSS, rssBytes())
			for _, o := range p.Stats().Outputs {
				if o.RTMP != nil {
					maxBacklog = max(maxBacklog, o.RTMP.BacklogUnits)
				}
			}
		}
		tick.Stop()
		if path := os.Getenv("CUNBO_BENCH_HEAPPROFILE"); path != "" {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.Logf("heap in use %d MiB, sys %d MiB, released %d MiB, idle %d MiB", ms.HeapInuse>>20, ms.Sys>>20, ms.HeapReleased>>20, ms.HeapIdle>>20)
			sm, _ := os.ReadFile("/proc/self/smaps_rollup")
			b.Logf("%s", sm)
			if f, err := os.Create(path); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		cpu, wall := cpuTime()-cpu0, time.Since(t0)
		probe.mu.Lock()
		lat := slices.Clone(probe.d)
		probe.mu.Unlock()
		if err := p.End(); err != nil {
			b.Fatal(err)
		}
		slices.Sort(lat)
		if len(lat) < int(d.Seconds())*FPS/2 {
			b.Fatalf("only %d units measured", len(lat))
		}
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "%cpu")
		b.ReportMetric(float64(peakRSS)/(1<<20), "rss-MB")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "lat-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "lat-p95-ms")
		b.ReportMetric(float64(maxBacklog), "backlog-max")
	}
}

// firstVideoTag reports whether an FLV file holds a complete video tag.
func firstVideoTag(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil || len(data) < 13 || string(data[:3]) != "FLV" {
		return false
	}
	off := int(binary.BigEndian.Uint32(data[5:9])) + 4
	for off+11 <= len(data) {
		typ := data[off] & 0x1f
		size := int(data[off+1])<<16 | int(data[off+2])<<8 | int(data[off+3])
		if off+11+size > len(data) {
			return false
		}
		if typ == 9 && size > 5 && data[off+11+1] == 1 { // AVC NALU packet, not the sequence header
			return true
		}
		off += 11 + size + 4
	}
	return false
}

// BenchmarkGoLive measures from GoLive to nginx having written the first
// video frame of the stream into its recording, with the pipeline already
// running (the box is on and previewing before she presses the button).
func BenchmarkGoLive(b *testing.B) {
	ngx := rtmptest.New(b)
	p := start(b, Config{Catalog: demoCatalog(b), InitialCard: 0, RTMP: []string{ngx.URL("golive")}})
	benchGoLive(b, p, ngx, func(i int) {
		// A random phase against the 2 s GOP.
		time.Sleep(time.Duration(i%7) * 300 * time.Millisecond)
	})
}

// BenchmarkGoLiveFromPause is BenchmarkGoLive from an idle box whose
// capture and encoder paused (nobody watching): GoLive restarts ffmpeg,
// so this is the go-live figure of a box left alone (target ≤ 2 s).
func BenchmarkGoLiveFromPause(b *testing.B) {
	ngx := rtmptest.New(b)
	p := start(b, Config{Catalog: demoCatalog(b), InitialCard: 0, RTMP: []string{ngx.URL("golive")},
		IdleAfter: 300 * time.Millisecond})
	benchGoLive(b, p, ngx, func(int) {
		waitFor(b, 20*time.Second, "the idle pause", p.Paused)
	})
}

// benchGoLive times GoLive to the first video frame in nginx's recording
// of stream "golive", b.N times; before(i) sets the scene, off the clock.
func benchGoLive(b *testing.B, p *Pipeline, ngx *rtmptest.Server, before func(i int)) {
	path := ngx.RecordingPath("golive")
	var samples []time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		os.Remove(path)
		before(i)
		b.StartTimer()
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := p.GoLive(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		for !firstVideoTag(path) {
			if time.Since(t0) > 10*time.Second {
				b.Fatalf("nginx wrote no video frame in 10 s\n%s", ngx.ErrorLog())
			}
			time.Sleep(2 * time.Millisecond)
		}
		samples = append(samples, time.Since(t0))
		b.StopTimer()
		if err := p.End(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "golive-p50-ms")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "golive-max-ms")
}
