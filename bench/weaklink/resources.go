package weaklink

import (
	"fmt"
	"os"
	"runtime"
)

// Resources is what the bench process holds at one moment: the box's
// pipeline and the WHIP receiver run in it (nginx does not).
type Resources struct {
	Goroutines int   `json:"goroutines"`
	FDs        int   `json:"fds"`
	HeapKiB    int64 `json:"heap_kib"`
}

// ResourceGrowth compares a quarter of the way into a run with its end,
// so reconnect after reconnect (flapping) shows up as growth if anything
// leaks.
type ResourceGrowth struct {
	From Resources `json:"from"`
	To   Resources `json:"to"`
}

func (g ResourceGrowth) String() string {
	return fmt.Sprintf("goroutines %d → %d, open files %d → %d, heap in use %d → %d KiB",
		g.From.Goroutines, g.To.Goroutines, g.From.FDs, g.To.FDs, g.From.HeapKiB, g.To.HeapKiB)
}

// sampleResources collects garbage first so the heap figure is what is
// really held.
func sampleResources() Resources {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fds := -1
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(ents)
	}
	return Resources{Goroutines: runtime.NumGoroutine(), FDs: fds, HeapKiB: int64(m.HeapInuse / 1024)}
}

// worseGrowth keeps, field by field, the larger growth of two runs.
func worseGrowth(a, b *ResourceGrowth) *ResourceGrowth {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	grow := func(g *ResourceGrowth) [3]int64 {
		return [3]int64{int64(g.To.Goroutines - g.From.Goroutines), int64(g.To.FDs - g.From.FDs), g.To.HeapKiB - g.From.HeapKiB}
	}
	ga, gb := grow(a), grow(b)
	out := *a
	if gb[0] > ga[0] {
		out.From.Goroutines, out.To.Goroutines = b.From.Goroutines, b.To.Goroutines
	}
	if gb[1] > ga[1] {
		out.From.FDs, out.To.FDs = b.From.FDs, b.To.FDs
	}
	if gb[2] > ga[2] {
		out.From.HeapKiB, out.To.HeapKiB = b.From.HeapKiB, b.To.HeapKiB
	}
	return &out
}
