package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
)

// TestAllControlsAtOnce drives every control at once, as the buttons, the
// phone page, the speech worker, the status API and the idle watch do on a
// box, while the pipeline goes live and ends over and over and pauses for
// idleness in between. Under -race it catches state read or written outside
// the lock the package doc assigns it (dropping marksMu from Mark fails it);
// a deadlock it runs into fails at the deadline with every goroutine's
// stack. A lock-order inversion with a narrow window may still slip by: the
// order in the package doc is the rule, this is the net.
func TestAllControlsAtOnce(t *testing.T) {
	ngx := rtmptest.New(t)
	p := start(t, Config{Catalog: demoCatalog(t), InitialCard: 0, RTMP: []string{ngx.URL("locks")},
		RecordDir: t.TempDir(), IdleAfter: 100 * time.Millisecond, StartTimeout: 20 * time.Second})

	ctx, stop := context.WithTimeout(context.Background(), 4*time.Second)
	defer stop()
	var wg sync.WaitGroup
	// loop runs step until ctx ends, and at least `least` times.
	loop := func(name string, least int, step func(i int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil || i < least; i++ {
				if err := step(i); err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
			}
		}()
	}
	lives := 0
	// Four rounds at least, so a slow box still goes live from a pause.
	loop("go live and end", 4, func(i int) error {
		if i%2 == 1 {
			// Every other time from a paused box: GoLive resumes it.
			deadline := time.Now().Add(3 * time.Second)
			for !p.Paused() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
		gctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.GoLive(gctx); err != nil {
			return err
		}
		lives++
		time.Sleep(50 * time.Millisecond)
		if err := p.Mark(); err != nil {
			return err
		}
		return p.End()
	})
	loop("wake", 0, func(int) error { p.Wake(); time.Sleep(400 * time.Millisecond); return nil })
	loop("status", 0, func(int) error {
		_ = p.Stats()
		_ = p.Healthy()
		_, _ = p.Card(), p.Marks()
		time.Sleep(5 * time.Millisecond)
		return nil
	})
	loop("cards", 0, func(i int) error {
		time.Sleep(10 * time.Millisecond)
		switch i % 4 {
		case 0:
			return p.NextCard()
		case 1:
			return p.HideCard()
		case 2:
			return p.PrevCard()
		default:
			return p.SelectCard(0)
		}
	})
	loop("mark", 0, func(int) error { time.Sleep(30 * time.Millisecond); return p.Mark() })
	loop("viewer", 0, func(i int) error {
		name := fmt.Sprintf("webrtc%d", i)
		s := &countedSink{}
		s.n.Store(int64(i%10) / 9) // one in ten watches
		if err := p.AddOutput(name, s); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
		s.n.Store(0)
		if !p.RemoveOutput(name) {
			return fmt.Errorf("output %s was not attached", name)
		}
		return nil
	})
	loop("audio tap", 0, func(int) error {
		remove := p.AudioTap(func(time.Duration, []int16, int, int) {})
		time.Sleep(25 * time.Millisecond)
		remove()
		return nil
	})

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("controls still blocked 90 s after they were told to stop:\n%s", buf[:runtime.Stack(buf, true)])
	}
	st := p.Stats()
	if lives == 0 || st.Pauses == 0 || st.Resumes == 0 {
		t.Errorf("went live %d times, paused %d, resumed %d: want each at least once", lives, st.Pauses, st.Resumes)
	}
	if p.Live() {
		t.Error("still live after the last End")
	}
	t.Logf("went live %d times; %d pauses, %d resumes", lives, st.Pauses, st.Resumes)
}
