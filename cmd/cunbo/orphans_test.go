package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/internal/sharedtest"
)

// A box killed with SIGKILL (the watchdog, the OOM killer, a crash) must
// take its children with it: an orphaned ffmpeg kept the Pi's camera busy,
// so the restarted box could not open it. A whole simulated box goes live
// with its encoder and the real speech worker, is killed, and every process
// under it must be gone within 2 s. The children are stopped first: most of
// them would otherwise end on their own at the end of their input pipe, but
// a child busy elsewhere (the worker loading a model, a camera tool waiting
// on its device) does not notice that pipe, and only the kernel's death
// signal ends it.
func TestKilledBoxLeavesNoChildren(t *testing.T) {
	bin := buildCunbo(t)
	cmd := exec.Command(bin, append([]string{"sim", "--http", "127.0.0.1:0", "--preview", ""}, scriptedSpeechArgs(t)...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var descendants []process
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		for _, p := range descendants {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(what string) {
		t.Helper()
		timeout := time.After(90 * time.Second) // start-up on a loaded 2-core machine
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("sim exited before %q\n%s", what, stderr.String())
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
	go func() { // keep the box's stdout flowing
		for range lines {
		}
	}()

	// The speech worker may still be loading its models: wait until both
	// kinds of child are there.
	deadline := time.Now().Add(60 * time.Second)
	for {
		descendants = descendantsOf(cmd.Process.Pid)
		if hasComm(descendants, "ffmpeg") && hasComm(descendants, "cunbo-speech") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("children of the live box: %v, want ffmpeg and cunbo-speech\n%s", descendants, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	for _, p := range descendants {
		if err := syscall.Kill(p.pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("stop %v: %v", p, err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	for {
		var left []process
		for _, p := range descendants {
			if p.alive() {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			t.Logf("%d children gone %v after the box was killed: %v", len(descendants), time.Since(killed).Round(time.Millisecond), descendants)
			return
		}
		if time.Since(killed) > 2*time.Second {
			t.Fatalf("2 s after kill -9 of the box these still run: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type process struct {
	pid  int
	comm string
	// start tells a process from a later one that got its pid.
	start string
}

func (p process) String() string { return fmt.Sprintf("%s[%d]", p.comm, p.pid) }

// alive: still the same process, and not a zombie (a container's init
// may never reap it).
func (p process) alive() bool {
	q, ok := readProcess(p.pid)
	return ok && q.start == p.start
}

func readProcess(pid int) (process, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return process{}, false
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return process{}, false
	}
	f := strings.Fields(s[closing+1:])
	// f[0] is the state, f[19] the start time (fields 3 and 22 of stat).
	if len(f) < 20 || f[0] == "Z" {
		return process{}, false
	}
	return process{pid: pid, comm: s[open+1 : closing], start: f[19]}, true
}

// descendantsOf lists every process below pid.
func descendantsOf(pid int) []process {
	var out []process
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, c := range strings.Fields(string(b)) {
			cpid, err := strconv.Atoi(c)
			if err != nil {
				continue
			}
			if p, ok := readProcess(cpid); ok {
				out = append(out, p)
				out = append(out, descendantsOf(cpid)...)
			}
		}
	}
	return out
}

func hasComm(ps []process, comm string) bool {
	for _, p := range ps {
		if p.comm == comm {
			return true
		}
	}
	return false
}

// scriptedSpeechArgs are the flags that give a simulated box the real
// speech worker with the scripted model, so warnings flow.
func scriptedSpeechArgs(t *testing.T) []string {
	t.Helper()
	td := sharedtest.Dir(t)
	return []string{
		"--speech-model", filepath.Join(td, "models", "scripted-ctc"),
		"--speech-vad", filepath.Join(td, "models", "silero-vad", "silero_vad.onnx"),
		"--speech-worker", sharedtest.SpeechWorker(t),
	}
}
