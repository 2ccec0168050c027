package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The review service's amd64 package is built from the real binary and
// checked with dpkg-deb --info/--contents/-x (deb/review/check.sh), which
// must refuse a package missing its binary or with its credentials file
// readable by others.
func TestReviewDebPackage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "cunbo-review")
	cmd := exec.Command("go", "build", "-tags", "ne", "-trimpath", "-o", bin, "../cmd/cunbo-review")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	deb := strings.TrimSpace(run(t, "bash", "deb/review/build.sh", "amd64", bin, dir, "0.0.0-test"))
	if filepath.Base(deb) != "cunbo-review_0.0.0-test_amd64.deb" {
		t.Fatalf("built %q", deb)
	}
	if out := run(t, "bash", "deb/review/check.sh", deb); !strings.HasPrefix(out, "ok ") || strings.Count(out, "\n") != 1 {
		t.Fatal(out)
	}
	for name, breakIt := range map[string]func(root string) error{
		"no binary":              func(root string) error { return os.Remove(filepath.Join(root, "usr/bin/cunbo-review")) },
		"credentials world-read": func(root string) error { return os.Chmod(filepath.Join(root, "etc/default/cunbo-review"), 0o644) },
	} {
		broken := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		run(t, "dpkg-deb", "-R", deb, broken)
		if err := breakIt(broken); err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(dir, "cunbo-review_0.0.0-bad_amd64.deb")
		run(t, "dpkg-deb", "--root-owner-group", "--build", broken, bad)
		if err := exec.Command("bash", "deb/review/check.sh", bad).Run(); err == nil {
			t.Fatalf("check.sh accepted a package with %s", name)
		}
	}
}
