package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
)

// TestSimProcessPushesToNginx runs `cunbo sim --rtmp … --duration 5s` as a
// real process against a real nginx-rtmp and checks it exits 0 and nginx
// recorded 5 s of portrait H.264 + AAC.
func TestSimProcessPushesToNginx(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cunbo")
	build := exec.Command("go", "build", "-tags", "ne", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ngx := rtmptest.New(t)
	rec := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "sim", "--rtmp", ngx.URL("sim"), "--duration", "5s",
		"--portrait", "--card", "2", "--record", rec, "--preview", "")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cunbo sim: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "正在直播") || !strings.Contains(stdout.String(), "直播已结束") {
		t.Errorf("stdout lacks the live/ended lines:\n%s", stdout.String())
	}
	if strings.Contains(stdout.String(), "/live/sim") {
		t.Errorf("stdout shows the stream key:\n%s", stdout.String())
	}
	if err := ngx.Stop(); err != nil {
		t.Fatal(err)
	}
	res, err := rtmptest.Probe(ngx.RecordingPath("sim"))
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, ngx.ErrorLog())
	}
	v, a := res.Video(), res.Audio()
	if v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" || v.Width != 720 || v.Height != 1280 {
		t.Fatalf("nginx got %+v, want 720x1280 h264 + aac", res.Streams)
	}
	vp := res.PacketsOf(v.Index)
	// 5 s from going live (after the encoder's start) plus the primed GOP.
	if d := vp[len(vp)-1].DTS - vp[0].DTS; d < 3*time.Second || d > 7500*time.Millisecond {
		t.Errorf("nginx recorded %v of video, want about 5 s", d)
	}
	segs, err := filepath.Glob(filepath.Join(rec, "*.mp4"))
	if err != nil || len(segs) == 0 {
		entries, _ := os.ReadDir(rec)
		t.Errorf("no recording segments in %s: %v", rec, entries)
	}
}

func TestSimFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sim", "--nonsense"}, 2, "flag provided but not defined"},
		{[]string{"sim", "extra"}, 2, "unexpected argument"},
		{[]string{"sim", "--card", "99", "--preview", ""}, 2, "商品目录只有"},
		{[]string{"sim", "--rtmp", "http://example.com/x", "--preview", ""}, 2, "cunbo sim"},
		{[]string{"sim", "--duration", "-1s"}, 2, "must be positive"},
		{[]string{"sim", "--stick", "/media/stick"}, 2, "--stick needs --http"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := runCLI(t, "", tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}

func TestDisplayHost(t *testing.T) {
	for in, want := range map[string]string{
		":8554":          "127.0.0.1:8554",
		"0.0.0.0:8554":   "127.0.0.1:8554",
		"[::]:8554":      "127.0.0.1:8554",
		"10.0.0.5:8554":  "10.0.0.5:8554",
		"no-port-at-all": "no-port-at-all",
	} {
		if got := displayHost(in); got != want {
			t.Errorf("displayHost(%q) = %q, want %q", in, got, want)
		}
	}
}
