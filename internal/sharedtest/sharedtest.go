// Package sharedtest finds the workspace's shared test data — real speech
// clips and models kept beside the repository at ../shared/testdata — for
// tests in any package.
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
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("sharedtest: no go.mod above the test directory")
		}
		dir = parent
	}
	td := filepath.Join(dir, "..", "shared", "testdata")
	if _, err := os.Stat(td); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sharedtest: shared test data missing in CI: %v", err)
		}
		t.Skipf("sharedtest: shared test data not present at %s", td)
	}
	return td
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
