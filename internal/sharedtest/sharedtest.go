// Package sharedtest is the one home of helpers that tests in many
// packages need: the workspace's shared test data — real speech clips and
// models kept beside the repository at ../shared/testdata —, the real
// speech worker built for tests, and a component run for the length of a
// test.
package sharedtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns ../shared/testdata next to the module root. Where the folder
// is absent the test is skipped with a clear message, except under CI
// (CI set), where the data is always provisioned and a missing folder is a
// failure, never a silent skip.
func Dir(t testing.TB) string {
	t.Helper()
	td := filepath.Join(ModuleRoot(t), "..", "shared", "testdata")
	if _, err := os.Stat(td); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sharedtest: shared test data missing in CI: %v", err)
		}
		t.Skipf("sharedtest: shared test data not present at %s", td)
	}
	return td
}

// ModuleRoot returns the directory holding go.mod above the test's working
// directory.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("sharedtest: no go.mod above the test directory")
		}
		dir = parent
	}
}

// Path returns a file under the shared test data and fails the test if it
// is not there.
func Path(t testing.TB, rel ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{Dir(t)}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("sharedtest: %v", err)
	}
	return p
}
