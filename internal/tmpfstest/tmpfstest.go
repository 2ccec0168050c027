// Package tmpfstest mounts small, real filesystems for tests that must see
// a card run full (ENOSPC from the kernel, not from a fake).
package tmpfstest

import (
	"os"
	"os/exec"
	"testing"
)

// Mount mounts a tmpfs with the given options (for example "size=20m" or
// "size=64m,nr_inodes=16") on a fresh directory and unmounts it when the
// test ends. Mounting needs root: CI runs as root; elsewhere `sudo -n` is
// tried, and a test that cannot mount fails with a clear message rather
// than skip.
func Mount(t testing.TB, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := privileged("mount", "-t", "tmpfs", "-o", opts+",mode=0777", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("tmpfstest: cannot mount a tmpfs (%s) on %s: %v\n%s\n"+
			"this test needs root or password-less sudo to make a small filesystem that fills up", opts, dir, err, out)
	}
	// Registered after TempDir's cleanup, so it runs first: the mount goes
	// before the directory is removed.
	t.Cleanup(func() {
		if out, err := privileged("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("tmpfstest: umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

func privileged(name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command(name, args...)
	}
	return exec.Command("sudo", append([]string{"-n", name}, args...)...)
}
