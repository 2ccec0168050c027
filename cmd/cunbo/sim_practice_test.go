package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
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

// simPractice runs `cunbo sim --http --practice` with extra flags,
// practises for a while (until ready says so), ends it and returns her
// report; nginx-rtmp is configured and must stay empty.
func simPractice(t *testing.T, dataDir string, ready func(web.PracticeView) bool, extra ...string) (*web.PracticeReport, string) {
	t.Helper()
	ngx := rtmptest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runSim(ctx, append([]string{"--http", "127.0.0.1:0", "--practice", "--preview", "", "--portrait",
			"--rtmp", ngx.URL("sim"), "--data", dataDir}, extra...), strings.NewReader(""), &stdout, &stderr)
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
	deadline := time.Now().Add(60 * time.Second)
	for {
		v := view()
		if v.Active && ready(v) {
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
	if _, err := os.Stat(ngx.RecordingPath("sim")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nginx-rtmp got a stream from a practice: %v", err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("cunbo sim exited %d\n%s", code, stderr.String())
	}
	return rep, stdout.String()
}

// `cunbo sim --practice` without a speech model: the box starts a
// practice at once, publishes nothing to its configured nginx-rtmp, the
// customers come, the scenario's sample answers stand in for her voice,
// and after she ends the report says her question was answered.
func TestSimPractice(t *testing.T) {
	// 阿英 asks 5 s after the first card; the sample answer takes 3 s to
	// begin and 4 s to say.
	rep, _ := simPractice(t, t.TempDir(), func(v web.PracticeView) bool { return len(v.Comments) >= 2 && v.Elapsed > 13 })
	// The practice ends before every question came, so the report says
	// the ones that came were answered (来了的N个问题…).
	if rep.Missing != "" || len(rep.Good) == 0 || rep.Good[0].Icon != "✅" || !strings.HasSuffix(rep.Good[0].Text, "你都及时回答了") {
		t.Errorf("report %+v: want her scripted answer counted", rep)
	}
}

// With the real speech worker (the scripted plumbing model hears
// 今天的辣椒酱全网最低价 in the looping clip), a practice warns as a live
// does, keeps the flagged moment on disk, and her report names it.
func TestSimPracticeWithSpeech(t *testing.T) {
	data := t.TempDir()
	flaggedDir := filepath.Join(data, "flagged")
	rep, out := simPractice(t, data, func(v web.PracticeView) bool {
		// The warning comes with the utterance's first words; its
		// caption ends a few seconds later.
		segs, _ := filepath.Glob(filepath.Join(flaggedDir, "*", "segment.json"))
		return len(segs) > 0 && v.Elapsed > 12
	}, append(scriptedSpeechArgs(t), "--flagged", flaggedDir)...)
	if rep.Missing != "" {
		t.Errorf("report says %q with a speech model", rep.Missing)
	}
	var warned bool
	for _, p := range rep.Next {
		warned = warned || strings.Contains(p.Text, "违规")
	}
	if !warned {
		t.Errorf("report %+v does not name the warning", rep)
	}
	if !strings.Contains(out, "全网最低价") {
		t.Errorf("the terminal did not print the warning:\n%s", out)
	}
}
