package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/firmware/config"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/xuri/excelize/v2"
)

// TestRunWorksAroundSetupMistakes: `cunbo run` as systemd runs it, with a
// config that leaves the PIN out and has a bad optional key, and an Excel
// catalogue whose only card breaks the advertising law. The box makes and
// keeps its own PIN (0640, for the label), starts, goes live to a real
// nginx-rtmp without any card, and the phone page lists the config key
// and the card with what to write instead (issue 12 items 9-11, issue 19
// item 4).
func TestRunWorksAroundSetupMistakes(t *testing.T) {
	bin := buildCunbo(t)
	ngx := rtmptest.New(t)
	dir := t.TempDir()
	httpAddr := freeTCPAddr(t)

	catalogue := filepath.Join(dir, "商品.xlsx")
	f := excelize.NewFile()
	for i, row := range [][]any{{"名称", "价格", "链接号"}, {"全网最好的野生蜂蜜 包治百病", 128, 3}} {
		if err := f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+1), &row); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SaveAs(catalogue); err != nil {
		t.Fatal(err)
	}
	u := ngx.URL("k7f3a9c")
	i := strings.LastIndexByte(u, '/')
	conf := filepath.Join(dir, "cunbo.toml")
	toml := fmt.Sprintf(`device_id = "test-box"
state_dir = %q
catalogue = %q
[http]
listen = %q
[video]
source = "test"
bitrate_kbps = 1000
fps = 0
[audio]
source = "test"
[speech]
model_dir = %q
[record]
dir = %q
quota_mb = 256
[[destination]]
name = "nginx"
kind = "rtmp"
url = %q
key = %q
`, dir, catalogue, httpAddr, filepath.Join(dir, "models"), filepath.Join(dir, "record"), u[:i], u[i+1:])
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}

	notify := listenNotify(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", conf, "--desk")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify.path)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	notify.wait(t, 20*time.Second, "READY=1", logs.String)

	pinPath := filepath.Join(dir, config.PINFile)
	b, err := os.ReadFile(pinPath)
	if err != nil {
		t.Fatalf("no PIN file: %v\n%s", err, logs.String())
	}
	pin := strings.TrimSpace(string(b))
	if fi, err := os.Stat(pinPath); err != nil || fi.Mode().Perm() != 0o640 || bundle.CheckPIN(pin) != "" {
		t.Fatalf("PIN %q, file %v %v", pin, fi.Mode(), err)
	}
	base := "http://" + httpAddr
	c := login(t, base, pin)

	type status struct {
		State string          `json:"state"`
		Card  json.RawMessage `json:"card"`
		// Problems as the phone page gets them.
		Problems []struct {
			Source, Where, Message, Hint string
		} `json:"problems"`
	}
	get := func() status {
		resp, err := c.Get(base + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := get()
	var sawConfig, sawCard bool
	for _, p := range st.Problems {
		switch {
		case p.Source == "config" && p.Where == "cunbo.toml 第9行 (video.fps)" && strings.Contains(p.Message, "默认值 30") && p.Hint == "fps = 30":
			sawConfig = true
		case p.Source == "card" && strings.Contains(p.Where, "商品.xlsx 第2行") && strings.Contains(p.Message, "包治百病") && p.Hint != "":
			sawCard = true
		}
	}
	if !sawConfig || !sawCard {
		t.Fatalf("problems on the phone page: %+v", st.Problems)
	}
	if string(st.Card) != "null" {
		t.Fatalf("a card is shown: %s", st.Card)
	}

	resp, err := c.Post(base+"/api/button/big?press=short", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(ngx.RecordingPath("k7f3a9c"))
		if err == nil && fi.Size() > 50<<10 && get().State == "live" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not live without cards: %s\n%s", get().State, ngx.ErrorLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Next and previous have no card to show: the banned words never
	// reach the picture.
	for _, b := range []string{"next", "prev"} {
		resp, err := c.Post(base+"/api/button/"+b+"?press=short", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	time.Sleep(500 * time.Millisecond)
	if st := get(); string(st.Card) != "null" {
		t.Fatalf("a card is shown after next/prev: %s", st.Card)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop on SIGTERM")
	}
	// A restart keeps the same PIN: it is on the box's label.
	if b2, _ := os.ReadFile(pinPath); strings.TrimSpace(string(b2)) != pin {
		t.Fatalf("PIN changed: %q -> %q", pin, b2)
	}
	if strings.Contains(logs.String(), u[i+1:]) {
		t.Errorf("the stream key was logged:\n%s", logs.String())
	}
}
