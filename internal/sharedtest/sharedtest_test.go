package sharedtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// recorder is a testing.TB that keeps what Run reports, so a failing
// component can be shown to fail the test without failing this one.
type recorder struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Cleanup(f func())          { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }

func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestRun(t *testing.T) {
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	tests := []struct {
		name      string
		run       func(context.Context) error
		early     bool   // run returns before the test ends
		stopEarly bool   // the test calls Stop itself, then ends
		wantErr   string // "" when the test must pass
	}{
		{"stops on cancel", func(ctx context.Context) error { <-ctx.Done(); return nil }, false, false, ""},
		{"returns an error", func(ctx context.Context) error { <-ctx.Done(); return errors.New("disk gone") }, false, false, "widget: disk gone"},
		{"ignores cancel", func(context.Context) error { <-stuck; return nil }, false, false, "widget did not return"},
		{"ends early", func(context.Context) error { return nil }, true, false, ""},
		{"ends early with an error", func(context.Context) error { return errors.New("bad config") }, true, false, "widget: bad config"},
		{"stopped by the test", func(ctx context.Context) error { <-ctx.Done(); return nil }, false, true, ""},
		{"stopped by the test, with an error", func(ctx context.Context) error { <-ctx.Done(); return errors.New("lost") }, false, true, "widget: lost"},
		{"returns ctx.Err()", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, false, false, "widget: context canceled"},
		{"returns ctx.Err(), canceled is clean", CanceledIsClean(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }), false, false, ""},
		{"canceled is clean, other errors still count", CanceledIsClean(func(ctx context.Context) error { <-ctx.Done(); return errors.New("disk gone") }), false, false, "widget: disk gone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			running := Run(r, "widget", 200*time.Millisecond, tc.run)
			select {
			case <-running.Ended():
				if !tc.early {
					t.Fatal("ended before the test did")
				}
			case <-time.After(100 * time.Millisecond):
				if tc.early {
					t.Fatal("ended channel not closed after run returned")
				}
			}
			if tc.stopEarly {
				running.Stop()
				if got := strings.Join(r.errs, "; "); !strings.Contains(got, tc.wantErr) {
					t.Fatalf("Stop reported %q, want %q", got, tc.wantErr)
				}
			}
			r.end()
			got := strings.Join(r.errs, "; ")
			if tc.wantErr == "" && got != "" || !strings.Contains(got, tc.wantErr) {
				t.Fatalf("reported %q, want %q", got, tc.wantErr)
			}
			if n := len(r.errs); n > 1 {
				t.Fatalf("reported %d times, want once: %q", n, got)
			}
		})
	}
}

func TestSpeechWorkerBuiltOnce(t *testing.T) {
	first := SpeechWorker(t)
	if again := SpeechWorker(t); again != first {
		t.Fatalf("second call built again: %s, then %s", first, again)
	}
	fi, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&0o111 == 0 {
		t.Fatalf("%s is not executable: %v", first, fi.Mode())
	}
	// A worker started without its model must say so and exit, not hang.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, first, "--nonexistent-flag").CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("worker with a bad flag: err %v, ctx %v\n%s", err, ctx.Err(), out)
	}
}
