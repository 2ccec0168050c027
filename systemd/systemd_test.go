package systemd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s%s", name, args, err, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

func TestUnitHasTheHardening(t *testing.T) {
	b, err := os.ReadFile("cunbo.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{
		"Type=notify", "NotifyAccess=main", "WatchdogSec=30s", "Restart=always", "User=cunbo",
		"SupplementaryGroups=video audio gpio", "ProtectSystem=strict", "ReadWritePaths=/var/lib/cunbo",
		"PrivateTmp=yes", "NoNewPrivileges=yes", "ProtectHome=yes", "DevicePolicy=closed",
		"DeviceAllow=char-video4linux rw", "DeviceAllow=char-alsa rw", "DeviceAllow=char-gpiochip rw",
		"StandardOutput=journal", "ExecStart=/usr/bin/cunbo run",
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want)).MatchString(unit) {
			t.Errorf("unit lacks %q", want)
		}
	}
}

// systemd-analyze verify checks every directive; it needs ExecStart's
// binary to exist, so the unit is verified from a temp copy pointing at a
// temp copy of a real executable.
func TestUnitVerifies(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "cunbo")
	self, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("cunbo.service")
	unit := strings.ReplaceAll(string(b), "ExecStart=/usr/bin/cunbo", "ExecStart="+exe)
	p := filepath.Join(dir, "cunbo.service")
	os.WriteFile(p, []byte(unit), 0o644)
	// verify exits 0 on unknown keys and only warns: any output fails.
	if out := run(t, "systemd-analyze", "verify", p); out != "" {
		t.Fatalf("systemd-analyze verify:\n%s", out)
	}
}

// The sysusers and tmpfiles files are applied to an empty root directory.
func TestSysusersAndTmpfilesApply(t *testing.T) {
	root := t.TempDir()
	here, _ := os.Getwd()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	run(t, "systemd-sysusers", "--root="+root, filepath.Join(here, "cunbo.sysusers"))
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	group, _ := os.ReadFile(filepath.Join(root, "etc/group"))
	if !regexp.MustCompile(`(?m)^cunbo:x:\d+:\d+:cunbo livestream box:/var/lib/cunbo:/usr/sbin/nologin$`).Match(passwd) {
		t.Fatalf("passwd:\n%s", passwd)
	}
	for _, g := range []string{"video", "audio", "gpio"} {
		if !regexp.MustCompile(`(?m)^` + g + `:x:\d+:(.*,)?cunbo(,.*)?$`).Match(group) {
			t.Errorf("cunbo not in group %s:\n%s", g, group)
		}
	}
	run(t, "systemd-tmpfiles", "--root="+root, "--create", filepath.Join(here, "cunbo.tmpfiles"))
	for _, d := range []string{"var/lib/cunbo", "var/lib/cunbo/record"} {
		st, err := os.Stat(filepath.Join(root, d))
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o750 {
			t.Fatalf("%s: %v %v", d, st, err)
		}
	}
}

// The amd64 package is built from the real binary and checked with
// dpkg-deb --info/--contents/-x (deb/check.sh).
func TestDebPackage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "cunbo")
	cmd := exec.Command("go", "build", "-tags", "ne", "-trimpath", "-o", bin, "../cmd/cunbo")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	deb := strings.TrimSpace(run(t, "bash", "deb/build.sh", "amd64", bin, dir, "0.0.0-test"))
	if filepath.Base(deb) != "cunbo_0.0.0-test_amd64.deb" {
		t.Fatalf("built %q", deb)
	}
	if out := run(t, "bash", "deb/check.sh", deb); !strings.HasPrefix(out, "ok ") || strings.Count(out, "\n") != 1 {
		t.Fatal(out)
	}
	// check.sh must be able to fail: a package without the binary.
	broken := filepath.Join(dir, "broken")
	run(t, "dpkg-deb", "-R", deb, broken)
	os.Remove(filepath.Join(broken, "usr/bin/cunbo"))
	bad := filepath.Join(dir, "cunbo_0.0.0-bad_amd64.deb")
	run(t, "dpkg-deb", "--root-owner-group", "--build", broken, bad)
	if err := exec.Command("bash", "deb/check.sh", bad).Run(); err == nil {
		t.Fatal("check.sh accepted a package without its binary")
	}
	// Nor one without the polkit rule (no hotspot) or the stick rule (no
	// bundles by USB).
	for _, f := range []string{"etc/polkit-1/rules.d/50-cunbo-nm.rules", "usr/lib/udev/rules.d/90-cunbo-stick.rules"} {
		broken := filepath.Join(dir, "broken-"+filepath.Base(f))
		run(t, "dpkg-deb", "-R", deb, broken)
		os.Remove(filepath.Join(broken, f))
		bad := filepath.Join(dir, "cunbo_0.0.0-bad_"+filepath.Base(f)+"_amd64.deb")
		run(t, "dpkg-deb", "--root-owner-group", "--build", broken, bad)
		if err := exec.Command("bash", "deb/check.sh", bad).Run(); err == nil {
			t.Errorf("check.sh accepted a package without %s", f)
		}
	}
}
