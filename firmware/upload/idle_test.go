package upload

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
)

func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// An idle box with a store full of uploaded segments: the uploader sleeps
// (no polling), costing well under 2 % of one core and 10 MB.
func TestIdleCost(t *testing.T) {
	f := newFixture(t)
	for i := range 100 {
		s := f.segment(t0.Add(time.Duration(i)*time.Minute), 0)
		if err := f.store.SetStatus(s.ID, flagged.StatusUploaded); err != nil {
			t.Fatal(err)
		}
	}
	mem0 := heapInUse()
	u := f.uploader(func(c *Config) { c.Logger = nil })
	run(t, u)
	time.Sleep(500 * time.Millisecond) // the first scan
	const window = 3 * time.Second
	cpu0, wall0 := cpuTime(t), time.Now()
	time.Sleep(window)
	cpu, wall := cpuTime(t)-cpu0, time.Since(wall0)
	mem := int64(heapInUse()) - int64(mem0)
	share := float64(cpu) / float64(wall) * 100
	t.Logf("idle: %.2f %% of one core (%v CPU in %v), %+d KB heap and stacks", share, cpu, wall.Round(time.Millisecond), mem/1024)
	if share > 2 {
		t.Errorf("idle uploader used %.2f %% of one core, want ≤ 2 %%", share)
	}
	if mem > 10<<20 {
		t.Errorf("uploader holds %d MB, want ≤ 10 MB", mem>>20)
	}
	if reqs := f.srv.requests(); len(reqs) != 0 {
		t.Errorf("an idle uploader with nothing to send made requests: %v", reqs)
	}
}

// BenchmarkIdleRescan is the cost of one idle wake (a look at the store
// and the queue) with a store of 500 segments; at one wake every 30 s,
// cpu-%/core is its share of one core.
func BenchmarkIdleRescan(b *testing.B) {
	st, err := flagged.Open(flagged.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 500 {
		s, err := st.Create(flagged.Segment{Reason: flagged.ReasonMark, At: t0.Add(time.Duration(i) * time.Second)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			st.SetStatus(s.ID, flagged.StatusUploaded)
		}
	}
	u, err := New(Config{URL: "http://127.0.0.1:1/", Key: make([]byte, 64), Dir: b.TempDir(), Source: st})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if w, _ := u.next(); w == nil {
			b.Fatal("no work found")
		}
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per)/float64(MinRescan)*100, "cpu-%/core")
}
