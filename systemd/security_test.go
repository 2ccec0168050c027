package systemd

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/internal/sharedtest"
)

// maxExposure is the highest `systemd-analyze security` exposure (0 safe,
// 10 unsafe) the unit may have. What keeps it above 1: the box needs the
// network, the camera, sound and GPIO devices, and its supplementary groups.
const maxExposure = 2.0

func TestUnitSecurityExposure(t *testing.T) {
	out := run(t, "systemd-analyze", "security", "--offline=true", "--no-pager", "cunbo.service")
	m := regexp.MustCompile(`Overall exposure level for cunbo\.service: (\d+\.\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	if level > maxExposure {
		t.Errorf("exposure %.1f, want at most %.1f; what counts:\n%s", level, maxExposure, failedChecks(out))
	}
	t.Logf("exposure %.1f", level)
}

func failedChecks(out string) string {
	var b strings.Builder
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "✗") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func TestUnitLimits(t *testing.T) {
	unit := readUnit(t)
	for _, tc := range []struct{ key, want string }{
		{"MemoryMax", "1G"},
		{"TasksMax", "256"},
		// The phone page's server caps itself at about 512 connections.
		{"LimitNOFILE", "4096"},
		{"SystemCallErrorNumber", "EPERM"},
		{"ProtectKernelTunables", "yes"},
		{"ProtectProc", "invisible"},
	} {
		if got := directives(unit, tc.key); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s=%v, want %s", tc.key, got, tc.want)
		}
	}
}

func readUnit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("cunbo.service")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// directives returns the values of key in the unit, in order.
func directives(unit, key string) []string {
	var vals []string
	for l := range strings.Lines(unit) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+"="); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

// syscallGroups reads the system call groups of the local systemd.
func syscallGroups(t *testing.T) map[string][]string {
	t.Helper()
	groups := map[string][]string{}
	var cur string
	// A group's name starts its line; its members are indented.
	for l := range strings.Lines(run(t, "systemd-analyze", "syscall-filter", "--no-pager")) {
		item := strings.TrimSpace(l)
		switch {
		case item == "" || strings.HasPrefix(item, "#"):
		case strings.HasPrefix(l, "@"):
			cur = item
			groups[cur] = nil
		case cur != "":
			groups[cur] = append(groups[cur], item)
		}
	}
	if len(groups["@system-service"]) == 0 {
		t.Fatal("systemd-analyze syscall-filter lists no @system-service")
	}
	return groups
}

func expand(groups map[string][]string, item string, into map[string]bool) {
	if !strings.HasPrefix(item, "@") {
		into[item] = true
		return
	}
	for _, it := range groups[item] {
		expand(groups, it, into)
	}
}

// allowedSyscalls evaluates the unit's SystemCallFilter= lines as systemd
// does when the first one is an allow list: "~" lines take system calls
// out, later plain lines put them back.
func allowedSyscalls(t *testing.T, unit string, groups map[string][]string) map[string]bool {
	t.Helper()
	lines := directives(unit, "SystemCallFilter")
	if len(lines) == 0 || strings.HasPrefix(lines[0], "~") {
		t.Fatalf("SystemCallFilter=%v: want an allow list first", lines)
	}
	allowed := map[string]bool{}
	for _, l := range lines {
		deny := strings.HasPrefix(l, "~")
		set := map[string]bool{}
		for _, f := range strings.Fields(strings.TrimPrefix(l, "~")) {
			if _, ok := groups[f]; strings.HasPrefix(f, "@") && !ok {
				t.Fatalf("SystemCallFilter: unknown group %s", f)
			}
			expand(groups, f, set)
		}
		for s := range set {
			allowed[s] = !deny
		}
	}
	return allowed
}

// The unit's system call filter must leave the box everything it uses. A
// whole simulated box — the same binary, its ffmpeg encoders, the
// recorder and the real speech worker with a model — runs under strace
// from start-up through going live, a caption warning and a card change to
// its shutdown; every system call any of its processes made must pass the
// filter. (The real box's camera and microphone add ioctl and read on
// device nodes, both in @system-service.)
func TestUnitSystemCallFilterAllowsTheBox(t *testing.T) {
	unit := readUnit(t)
	allowed := allowedSyscalls(t, unit, syscallGroups(t))
	for _, denied := range []string{"reboot", "mount", "init_module", "setuid", "settimeofday"} {
		if allowed[denied] {
			t.Errorf("the filter allows %s", denied)
		}
	}

	td := sharedtest.Dir(t)
	dir := t.TempDir()
	box, worker := filepath.Join(dir, "cunbo"), filepath.Join(dir, "cunbo-speech")
	for _, b := range []struct{ out, pkg, cgo string }{
		{box, "../cmd/cunbo", "0"}, {worker, "../cmd/cunbo-speech", "1"},
	} {
		cmd := exec.Command("go", "build", "-tags", "ne", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", b.pkg, err, out)
		}
	}
	trace := filepath.Join(dir, "strace.txt")
	cmd := exec.Command("strace", "-f", "-qq", "-c", "-U", "name,calls", "-o", trace, "--",
		box, "sim", "--http", "127.0.0.1:0", "--preview", "", "--record", filepath.Join(dir, "rec"),
		"--speech-model", filepath.Join(td, "models", "scripted-ctc"),
		"--speech-vad", filepath.Join(td, "models", "silero-vad", "silero_vad.onnx"),
		"--speech-worker", worker)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range lines {
		}
	})
	expect := func(what string) {
		t.Helper()
		// Generous: under strace on a loaded 2-core machine start-up and
		// the speech worker's first caption take many seconds.
		timeout := time.After(3 * time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("sim exited before %q: %v\n%s", what, <-exited, stderr.String())
				}
				if strings.Contains(l, what) {
					return
				}
			case <-timeout:
				t.Fatalf("no line with %q\nstderr:\n%s", what, stderr.String())
			}
		}
	}
	expect("未开播 (idle)")
	if _, err := io.WriteString(stdin, "b"); err != nil {
		t.Fatal(err)
	}
	expect("直播中 (live)")
	expect("全网最低") // the speech worker heard the clip and the linter warned
	if _, err := io.WriteString(stdin, "n"); err != nil {
		t.Fatal(err)
	}
	expect("商品卡片 (card): 2")
	// Ctrl-C goes to the box (strace's child), which shuts down; strace
	// writes its count when the last traced process has gone.
	pid := tracedChild(t, cmd.Process.Pid)
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("strace: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the box did not stop within a minute of Ctrl-C")
	}
	checkTraceAllowed(t, trace, allowed, "the box")
}

// checkTraceAllowed reads strace's count in trace and fails the test for
// every system call who made that the unit's filter (allowed) denies.
func checkTraceAllowed(t *testing.T, trace string, allowed map[string]bool, who string) {
	t.Helper()
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	used := tracedSyscalls(string(b))
	if len(used) < 20 {
		t.Fatalf("strace counted only %v", used)
	}
	var denied []string
	for _, s := range used {
		if !allowed[s] {
			denied = append(denied, s)
		}
	}
	if len(denied) > 0 {
		t.Fatalf("the unit's SystemCallFilter denies system calls %s makes: %v", who, denied)
	}
	t.Logf("%d distinct system calls, all allowed", len(used))
}

// tracedChild returns the pid strace started.
func tracedChild(t *testing.T, strace int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", strace, strace))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		t.Fatalf("strace has children %q, want one", f)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// tracedSyscalls reads the names from strace -c -U name,calls.
func tracedSyscalls(out string) []string {
	var names []string
	for l := range strings.Lines(out) {
		f := strings.Fields(l)
		if len(f) != 2 || f[0] == "syscall" || f[0] == "total" || strings.HasPrefix(f[0], "-") {
			continue
		}
		names = append(names, f[0])
	}
	slices.Sort(names)
	return names
}
