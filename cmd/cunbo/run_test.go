package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
)

func buildCunbo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cunbo")
	build := exec.Command("go", "build", "-tags", "ne", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// notifySocket is a fake systemd end of NOTIFY_SOCKET.
type notifySocket struct {
	path string
	conn *net.UnixConn
	msgs chan string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &notifySocket{path: path, conn: conn, msgs: make(chan string, 256)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

func (n *notifySocket) wait(t *testing.T, d time.Duration, want string, logs ...func() string) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(d)
	for {
		select {
		case m := <-n.msgs:
			for _, line := range strings.Split(m, "\n") {
				if line == want {
					return time.Since(start)
				}
			}
		case <-timeout:
			var l string
			for _, f := range logs {
				l += f()
			}
			t.Fatalf("no %s from the daemon within %v\n%s", want, d, l)
		}
	}
}

func login(t *testing.T, base, pin string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Post(base+"/api/login", "application/json", strings.NewReader(`{"pin":"`+pin+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login: %s", resp.Status)
	}
	return c
}

func apiState(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	resp, err := c.Get(base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		State string `json:"state"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.State
}

// `cunbo run` as systemd runs it: a real process with NOTIFY_SOCKET and a
// watchdog. It is ready within 5 s, pets the watchdog while healthy, goes
// live from the phone API to a real nginx-rtmp, and stops cleanly on
// SIGTERM.
func TestRunDaemonUnderSystemdProtocol(t *testing.T) {
	bin := buildCunbo(t)
	ngx := rtmptest.New(t)
	dir := t.TempDir()
	httpAddr := freeTCPAddr(t)
	conf := filepath.Join(dir, "cunbo.toml")
	u := ngx.URL("daemon")
	i := strings.LastIndexByte(u, '/')
	toml := fmt.Sprintf(`device_id = "test-box"
pin = "135792"
state_dir = %q
catalogue = %q
rule_pack = "/usr/share/cunbo/rules"
[http]
listen = %q
[video]
source = "test"
portrait = true
bitrate_kbps = 1000
[audio]
source = "test"
sample_rate = 48000
[speech]
model_dir = "/usr/share/cunbo/models"
[record]
dir = %q
quota_mb = 256
[[destination]]
name = "nginx"
kind = "rtmp"
url = %q
key = %q
`, dir, filepath.Join(dir, "catalogue.csv"), httpAddr, filepath.Join(dir, "record"), u[:i], u[i+1:])
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	notify := listenNotify(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", conf, "--desk")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify.path, "WATCHDOG_USEC=2000000")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	waitDone := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(waitDone) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-waitDone
	}()

	notify.wait(t, 10*time.Second, "READY=1", logs.String)
	ready := time.Since(start)
	t.Logf("process start → READY=1 in %v", ready)
	if ready > 5*time.Second {
		t.Errorf("ready after %v, target ≤ 5 s", ready)
	}
	notify.wait(t, 5*time.Second, "WATCHDOG=1")

	base := "http://" + httpAddr
	c := login(t, base, "135792")
	if s := apiState(t, c, base); s != "idle" {
		t.Fatalf("daemon starts %s, want idle", s)
	}
	resp, err := c.Post(base+"/api/button/big?press=short", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(3 * time.Second)
	for apiState(t, c, base) != "live" {
		if time.Now().After(deadline) {
			t.Fatalf("not live 3 s after the big button\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		fi, err := os.Stat(ngx.RecordingPath("daemon"))
		if err == nil && fi.Size() > 50<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx got no stream\n%s", ngx.ErrorLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(logs.String(), u[i+1:]) {
		t.Errorf("the daemon logged the stream key:\n%s", logs.String())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("daemon exit: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not stop on SIGTERM\n%s", logs.String())
	}
	notify.wait(t, time.Second, "STOPPING=1")
}

func TestRunConfigErrorExitsWithExConfig(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "cunbo.toml")
	if err := os.WriteFile(conf, []byte("device_id = \"Bad Name\"\npin = 12\n[video]\nfps = 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	code := dispatch(context.Background(), []string{"run", "--config", conf}, strings.NewReader(""), &stdout, &stderr)
	if code != exitConfig {
		t.Fatalf("exit %d, want %d\n%s", code, exitConfig, stderr.String())
	}
	// Every problem at once, each on a line of its own (slog used to
	// print them on one line with a literal \n), in Chinese with the key.
	for _, want := range []string{"\n  " + conf + ":1: device_id: 盒子的名字", "\n  " + conf + ":2: pin: 密码要用英文引号括起来",
		"\n  " + conf + ":4: video.fps: 每秒画面数要在 1 到 60 之间"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("error output lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), `\n`) {
		t.Errorf("a literal \\n in the output:\n%s", stderr.String())
	}
}

// `cunbo sim --http` starts idle, prints the page, the PIN and the panel,
// and a key on its terminal presses the big button.
func TestSimHTTPTerminalPanel(t *testing.T) {
	bin := buildCunbo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "sim", "--http", "127.0.0.1:0", "--preview", "", "--portrait")
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
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(re *regexp.Regexp) []string {
		t.Helper()
		// Generous: on a loaded 2-core CI machine start-up (the linter's
		// dictionary, the speech worker) can take many seconds.
		timeout := time.After(90 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("sim exited before %s\n%s", re, stderr.String())
				}
				if m := re.FindStringSubmatch(l); m != nil {
					return m
				}
			case <-timeout:
				t.Fatalf("no line matching %s\nstderr:\n%s", re, stderr.String())
			}
		}
	}
	expect(regexp.MustCompile(`未开播 \(idle\).*LED: idle`))
	page := expect(regexp.MustCompile(`phone page\): (http://\S+)/$`))[1]
	pin := expect(regexp.MustCompile(`PIN\): (\d{6})$`))[1]
	c := login(t, page, pin)
	if s := apiState(t, c, page); s != "idle" {
		t.Fatalf("sim --http starts %s, want idle", s)
	}
	if _, err := io.WriteString(stdin, "b"); err != nil {
		t.Fatal(err)
	}
	expect(regexp.MustCompile(`直播中 \(live\).*LED: live #ff0000`))
	if s := apiState(t, c, page); s != "live" {
		t.Fatalf("after key b the API says %s", s)
	}
	if _, err := io.WriteString(stdin, "n"); err != nil {
		t.Fatal(err)
	}
	expect(regexp.MustCompile(`商品卡片 \(card\): 2 `))
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	expect(regexp.MustCompile(`simulator stopped`))
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
