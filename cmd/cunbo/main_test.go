package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/cunbo/cunbo/internal/sharedtest"
)

// TestMain keeps the simulator's default data folder (the user's state
// directory) out of the tests: every sim run without --data, in this
// process or in a child it starts, writes under a temporary folder. It
// also removes the speech worker sharedtest built.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cunbo-test-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := sharedtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}
