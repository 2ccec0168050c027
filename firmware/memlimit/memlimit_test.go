package memlimit

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"testing/fstest"
	"time"
)

func TestFor(t *testing.T) {
	for _, tc := range []struct {
		total uint64
		want  int64
	}{
		{0, Floor},
		{512 << 20, Floor},        // Pi Zero 2
		{1 << 30, Floor},          // Pi 3: a quarter is 256 MiB
		{2 << 30, 512 << 20},      // Pi 4 2 GB
		{8 << 30, Ceiling},        // Pi 5 8 GB
		{64 << 30, Ceiling},       // a desktop running the simulator
		{math.MaxUint64, Ceiling}, // "unlimited"
	} {
		if got := For(tc.total); got != tc.want {
			t.Errorf("For(%d MiB) = %d MiB, want %d MiB", tc.total>>20, got>>20, tc.want>>20)
		}
		// Never just above the box's working set (45 MiB live, twice
		// that before a collection).
		if For(tc.total) < 3*90<<20/2 {
			t.Errorf("For(%d) = %d: too close to the working set", tc.total, For(tc.total))
		}
	}
}

func TestAvailable(t *testing.T) {
	meminfo := &fstest.MapFile{Data: []byte("MemTotal:        944596 kB\nMemFree:   100 kB\n")}
	for _, tc := range []struct {
		name   string
		files  fstest.MapFS
		want   uint64
		source string
	}{
		{"machine only", fstest.MapFS{"proc/meminfo": meminfo}, 944596 << 10, "MemTotal"},
		{"cgroup v2 unlimited", fstest.MapFS{"proc/meminfo": meminfo,
			"proc/self/cgroup": {Data: []byte("0::/system.slice/cunbo.service\n")},
			"sys/fs/cgroup/system.slice/cunbo.service/memory.max": {Data: []byte("max\n")},
		}, 944596 << 10, "MemTotal"},
		{"cgroup v2 limit", fstest.MapFS{"proc/meminfo": meminfo,
			"proc/self/cgroup": {Data: []byte("0::/system.slice/cunbo.service\n")},
			"sys/fs/cgroup/system.slice/cunbo.service/memory.max": {Data: []byte("402653184\n")},
		}, 384 << 20, "cgroup"},
		{"cgroup v1 limit", fstest.MapFS{"proc/meminfo": meminfo,
			"proc/self/cgroup": {Data: []byte("5:cpu,cpuacct:/\n4:memory:/box\n0::/\n")},
			"sys/fs/cgroup/memory/box/memory.limit_in_bytes": {Data: []byte("268435456\n")},
		}, 256 << 20, "cgroup"},
		{"cgroup v1 no limit", fstest.MapFS{"proc/meminfo": meminfo,
			"proc/self/cgroup":                           {Data: []byte("4:memory:/\n")},
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")},
		}, 944596 << 10, "MemTotal"},
		{"cgroup larger than the machine", fstest.MapFS{"proc/meminfo": meminfo,
			"proc/self/cgroup":         {Data: []byte("0::/\n")},
			"sys/fs/cgroup/memory.max": {Data: []byte("4294967296\n")},
		}, 944596 << 10, "MemTotal"},
		{"nothing readable", fstest.MapFS{}, 0, "unknown"},
		{"garbage", fstest.MapFS{"proc/meminfo": {Data: []byte("MemTotal: lots\n")},
			"proc/self/cgroup": {Data: []byte("::::\n")}}, 0, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, source := Available(tc.files)
			if got != tc.want || source != tc.source {
				t.Fatalf("Available = %d (%s), want %d (%s)", got, source, tc.want, tc.source)
			}
		})
	}
}

func TestSetLeavesGOMEMLIMIT(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(300 << 20))
	limit, source := Set(func(k string) string {
		if k == "GOMEMLIMIT" {
			return "300MiB"
		}
		return ""
	})
	if limit != 300<<20 || source != "GOMEMLIMIT" || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Fatalf("Set with GOMEMLIMIT: %d %s", limit, source)
	}
	limit, source = Set(func(string) string { return "" })
	if limit < Floor || limit > Ceiling || debug.SetMemoryLimit(-1) != limit || source == "GOMEMLIMIT" {
		t.Fatalf("Set: %d from %s, limit now %d", limit, source, debug.SetMemoryLimit(-1))
	}
}

// TestNoGCSpiralAfterABurst: the box's working set, then a burst of 3000
// idle keep-alive connections to an HTTP server holding their buffers,
// while the pipeline goes on allocating. Under the limit the rule gives a
// 1 GB Pi, the collector must stay calm; the old 64 MiB limit ran it
// ~96 times a second from here on.
func TestNoGCSpiralAfterABurst(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(For(1 << 30)))

	// ~43 MB live, in pieces the collector has to trace.
	ballast := make([][]byte, 43<<20>>12)
	for i := range ballast {
		ballast[i] = make([]byte, 4<<10)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	before := heapLive()
	conns := make([]net.Conn, 0, 3000)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	buf := make([]byte, 512)
	for i := range 3000 {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: box\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("burst: live heap %d MiB -> %d MiB, limit %d MiB", before>>20, heapLive()>>20, debug.SetMemoryLimit(-1)>>20)

	// The pipeline's steady garbage: ~20 MB/s of frame-sized buffers.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var sink []byte
		for {
			select {
			case <-stop:
				runtime.KeepAlive(sink)
				return
			case <-tick.C:
				for range 4 {
					sink = make([]byte, 50<<10)
				}
			}
		}
	}()
	time.Sleep(500 * time.Millisecond) // settle after the burst
	gc0, t0 := gcCycles(), time.Now()
	time.Sleep(3 * time.Second)
	perSec := float64(gcCycles()-gc0) / time.Since(t0).Seconds()
	close(stop)
	<-done
	runtime.KeepAlive(ballast)
	t.Logf("%.1f collections a second after the burst", perSec)
	if perSec > 5 {
		t.Fatalf("%.1f collections a second after the burst: the collector is spiralling", perSec)
	}
}

func heapLive() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
