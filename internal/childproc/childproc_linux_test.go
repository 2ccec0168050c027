//go:build linux

package childproc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// boxEnv makes the test binary act as a box: it starts a child the way the
// mode says, prints the child's pid and waits to be killed.
const boxEnv = "CUNBO_CHILDPROC_TEST_BOX"

func TestMain(m *testing.M) {
	if mode := os.Getenv(boxEnv); mode != "" {
		if err := runBox(mode); err != nil {
			fmt.Fprintln(os.Stderr, "box:", err)
			os.Exit(1)
		}
		// Wait for kill -9 (a timer, not select{}: with every goroutine
		// blocked the runtime would end the box itself).
		time.Sleep(10 * time.Minute)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func runBox(mode string) error {
	start := func() (int, error) {
		cmd := exec.Command("sleep", "600")
		if err := Start(cmd); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	}
	var pid int
	var err error
	switch mode {
	case "goroutine":
		pid, err = start()
	case "exiting-thread":
		// The caller's goroutine ends while locked to its thread, so Go
		// ends the thread: a child forked on it would get its death
		// signal now, with the box alive.
		res := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			pid, err = start()
			res <- err
		}()
		err = <-res
		time.Sleep(300 * time.Millisecond) // the thread has gone by now
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return err
	}
	fmt.Printf("child %d\n", pid)
	return nil
}

// alive reports whether pid runs (a zombie has died: nobody may reap it
// in a container whose init does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

func TestChildDiesWithKilledParent(t *testing.T) {
	for _, mode := range []string{"goroutine", "exiting-thread"} {
		t.Run(mode, func(t *testing.T) {
			box := exec.Command(os.Args[0], "-test.run", "^$")
			box.Env = append(os.Environ(), boxEnv+"="+mode)
			box.Stderr = os.Stderr
			out, err := box.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := box.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = box.Process.Kill(); _ = box.Wait() })
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				t.Fatalf("box printed no child pid: %v", err)
			}
			var child int
			if _, err := fmt.Sscanf(line, "child %d", &child); err != nil {
				t.Fatalf("box said %q: %v", line, err)
			}
			t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })

			time.Sleep(500 * time.Millisecond)
			if !alive(child) {
				t.Fatalf("child %d died while the box still ran", child)
			}
			if err := box.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			var exit *exec.ExitError
			if err := box.Wait(); !errors.As(err, &exit) {
				t.Fatalf("box: %v, want killed", err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for alive(child) {
				if time.Now().After(deadline) {
					t.Fatalf("child %d still runs 2 s after the box was killed", child)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
