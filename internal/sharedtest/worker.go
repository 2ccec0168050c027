package sharedtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// worker is the speech worker built for this test binary. It is package
// state on purpose: a cgo build of cmd/cunbo-speech is slow, so it is
// built once per test process and shared by every test in it; Main
// removes it at the end.
var worker struct {
	main atomic.Bool
	once sync.Once
	dir  string
	path string
	err  error
}

// SpeechWorker returns the real cgo speech worker (cmd/cunbo-speech),
// built with -tags ne once per test binary. The package's TestMain must
// call Main, which removes the build afterwards; without it the test fails
// rather than leaving binaries behind in the temp folder.
func SpeechWorker(t testing.TB) string {
	t.Helper()
	if !worker.main.Load() {
		t.Fatal("sharedtest: SpeechWorker needs TestMain to call sharedtest.Main")
	}
	worker.once.Do(func() {
		worker.path, worker.err = buildWorker(ModuleRoot(t))
	})
	if worker.err != nil {
		t.Fatal(worker.err)
	}
	return worker.path
}

func buildWorker(root string) (string, error) {
	dir, err := os.MkdirTemp("", "cunbo-speech-test-")
	if err != nil {
		return "", fmt.Errorf("sharedtest: %w", err)
	}
	worker.dir = dir
	bin := filepath.Join(dir, "cunbo-speech")
	cmd := exec.Command("go", "build", "-tags", "ne", "-o", bin, "./cmd/cunbo-speech")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("sharedtest: go build cunbo-speech: %w\n%s", err, out)
	}
	return bin, nil
}

// Main runs the package's tests and then removes what SpeechWorker built.
// Call it from TestMain: os.Exit(sharedtest.Main(m)).
func Main(m *testing.M) int {
	worker.main.Store(true)
	code := m.Run()
	if worker.dir != "" {
		os.RemoveAll(worker.dir)
	}
	return code
}
