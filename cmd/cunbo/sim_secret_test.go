package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// leakedPart is the first 4 characters in a row of key that text shows,
// "" when none: a key must not show at all, not even its first or last
// few.
func leakedPart(text, key string) string {
	for i := 0; i+4 <= len(key); i++ {
		if strings.Contains(text, key[i:i+4]) {
			return key[i : i+4]
		}
	}
	return ""
}

// TestSimNeverShowsTheKey runs `cunbo sim` as a real process with the
// ingest URL given through CUNBO_RTMP and through --rtmp-file, against an
// ingest that refuses it: no part of the key may reach the process's
// command line (ps), the terminal or the log file, errors included.
func TestSimNeverShowsTheKey(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cunbo")
	build := exec.Command("go", "build", "-tags", "ne", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const key = "Qz7xK9wPm2Vb?sign=Hj4uLr8e"
	ingest := "rtmp://127.0.0.1:1/live/" + key // nothing listens on port 1
	for _, how := range []string{"env", "file"} {
		t.Run(how, func(t *testing.T) {
			data := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			args := []string{"sim", "-v", "--duration", "40s", "--data", data, "--preview", ""}
			cmd := exec.CommandContext(ctx, bin)
			cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, rtmpEnv+"=") })
			if how == "env" {
				cmd.Env = append(cmd.Env, rtmpEnv+"="+ingest)
			} else {
				f := filepath.Join(t.TempDir(), "ingest.txt")
				if err := os.WriteFile(f, []byte("# 抖音\n\n"+ingest+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--rtmp-file", f)
			}
			cmd.Args = append([]string{bin}, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cmdline")
			if err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			logFile, _ := os.ReadFile(filepath.Join(data, "sim.log"))
			out := stdout.String() + stderr.String()
			// It tried: going live failed on the refused ingest, and said
			// where to, without the key.
			if err == nil || !strings.Contains(out, "rtmp://127.0.0.1:1/live/") {
				t.Fatalf("sim did not try the ingest (exit %v):\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			for what, text := range map[string]string{"command line": string(cmdline), "terminal": out, "log file": string(logFile)} {
				if part := leakedPart(text, key); part != "" {
					t.Errorf("the %s shows %q of the stream key:\n%s", what, part, text)
				}
			}
		})
	}
}

func TestSimRTMPURLs(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(good, []byte("# 抖音\nrtmp://a/live/k1\n\n  rtmp://b/live/k2  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("rtmp://a/live/k1 secretword\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == rtmpEnv {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name  string
		flags []string
		file  string
		env   string
		want  []string
		err   string
	}{
		{"flag only", []string{"rtmp://f/live/x"}, "", "", []string{"rtmp://f/live/x"}, ""},
		{"all three", []string{"rtmp://f/live/x"}, good, "rtmp://e/live/y\nrtmp://e/live/z",
			[]string{"rtmp://f/live/x", "rtmp://a/live/k1", "rtmp://b/live/k2", "rtmp://e/live/y", "rtmp://e/live/z"}, ""},
		{"two words on a line", nil, bad, "", nil, "line 1: one URL a line"},
		{"no such file", nil, filepath.Join(dir, "missing"), "", nil, "no such file"},
		{"none", nil, "", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := simRTMPURLs(tc.flags, tc.file, env(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "secretword") {
					t.Fatalf("err %v, want %q without the line's words", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
