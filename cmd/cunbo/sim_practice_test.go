package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// `cunbo sim --practice` without a speech model: the box starts a
// practice at once, publishes nothing to its configured nginx-rtmp, the
// customers come, the scenario's sample answers stand in for her voice,
// and after she ends the report says her question was answered.
func TestSimPractice(t *testing.T) {
	ngx := rtmptest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runSim(ctx, []string{"--http", "127.0.0.1:0", "--practice", "--preview", "", "--portrait",
			"--rtmp", ngx.URL("sim"), "--data", t.TempDir()}, strings.NewReader(""), &stdout, &stderr)
	}()
	urlRe := regexp.MustCompile(`手机页面 \(phone page\): (\S+)\n密码 \(PIN\): (\d+)`)
	var base, pin string
	for base == "" {
		if m := urlRe.FindStringSubmatch(stdout.String()); m != nil {
			base, pin = strings.TrimSuffix(m[1], "/"), m[2]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("cunbo sim exited %d\n%s\n%s", code, stdout.String(), stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Post(base+"/api/login", "application/json", strings.NewReader(`{"pin":"`+pin+`"}`))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	view := func() web.PracticeView {
		t.Helper()
		resp, err := c.Get(base + "/api/practice")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v web.PracticeView
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// 阿英 asks 5 s after the first card; the sample answer takes 3 s to
	// begin and 4 s to say.
	deadline := time.Now().Add(40 * time.Second)
	for {
		v := view()
		if v.Active && len(v.Comments) >= 2 && v.Elapsed > 13 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("practice view %+v\nstdout:\n%s", v, stdout.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(stdout.String(), "练习中") {
		t.Errorf("the terminal does not say 练习中:\n%s", stdout.String())
	}
	resp, err = c.Post(base+"/api/button/big?press=long", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var rep *web.PracticeReport
	for deadline := time.Now().Add(30 * time.Second); rep == nil; time.Sleep(200 * time.Millisecond) {
		if v := view(); !v.Active && v.Report != nil {
			rep = v.Report
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report\n%s", stdout.String())
		}
	}
	if rep.Missing != "" || len(rep.Good) == 0 || rep.Good[0].Text != "顾客的问题，你都及时回答了" {
		t.Errorf("report %+v: want her scripted answer counted", rep)
	}
	if _, err := os.Stat(ngx.RecordingPath("sim")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nginx-rtmp got a stream from a practice: %v", err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("cunbo sim exited %d\n%s", code, stderr.String())
	}
}
