package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/sharedtest"
	"github.com/cunbo/cunbo/overlay"
	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/cunbo/cunbo/stream/whep"
)

const testPIN = "381957"

type box struct {
	app  *app.App
	pl   *pipeline.Pipeline
	ngx  *rtmptest.Server
	base string
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// startBox runs a whole simulated box (test pattern camera, tone mic, demo
// catalogue, virtual panel) publishing to a real nginx-rtmp.
func startBox(t *testing.T) *box {
	t.Helper()
	ngx := rtmptest.New(t)
	epoch := time.Now()
	format := pipeline.Format(true)
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: format, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := overlay.DemoCatalog()
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	pl, err := pipeline.New(pipeline.Config{
		Video: video, Audio: audio, Portrait: true, Catalog: cat, InitialCard: 0,
		RTMP: []string{ngx.URL("box")}, RTMPConfig: rtmp.Config{Logger: log},
		VideoKbps: 1200, Epoch: epoch, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{
		Pipeline: pl, Panel: app.VirtualPanel(), HTTPAddr: "127.0.0.1:0", PIN: testPIN,
		Destination: "rtmp://" + ngx.Addr() + "/live/" + web.MaskKey("box"),
		Preview:     whepLoopback(), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &box{app: a, pl: pl, ngx: ngx, base: runApp(t, a)}
}

// runApp runs a until the test ends and returns the base URL of its phone
// page once it listens.
func runApp(t testing.TB, a *app.App) string {
	t.Helper()
	ready := make(chan string, 1)
	running := sharedtest.Run(t, "app.Run", 30*time.Second, func(ctx context.Context) error {
		return a.Run(ctx, func(addr string) { ready <- addr })
	})
	select {
	case addr := <-ready:
		return "http://" + addr
	case <-running.Ended():
		t.Fatal("app.Run returned before the box was ready")
	case <-time.After(10 * time.Second):
		t.Fatal("box not ready in 10 s")
	}
	return ""
}

func client(t *testing.T, b *box) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	resp, err := c.Post(b.base+"/api/login", "application/json", strings.NewReader(`{"pin":"`+testPIN+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login: %s", resp.Status)
	}
	return c
}

func status(t *testing.T, c *http.Client, b *box) web.Status {
	t.Helper()
	resp, err := c.Get(b.base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st web.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func post(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %s %s", url, resp.Status, body)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// The one-button flow over the HTTP API against a real ingest server: a
// tap goes live (status, LED and nginx agree), a hold ends it and the
// publisher closes its RTMP session.
func TestBigButtonGoesLiveAndHoldEnds(t *testing.T) {
	b := startBox(t)
	c := client(t, b)
	if st := status(t, c, b); st.State != state.Idle {
		t.Fatalf("box starts %s, want idle", st.State)
	}
	if ls := b.app.Panel().Virtual.State(); ls.Base != hw.PatternIdle {
		t.Fatalf("LED shows %q, want idle", ls.Base)
	}

	pressed := time.Now()
	post(t, c, b.base+"/api/button/big?press=short")
	took := waitFor(t, 3*time.Second, "status live", func() bool { return status(t, c, b).State == state.Live })
	t.Logf("big button → status live in %v", took)
	st := status(t, c, b)
	if st.Label != "直播中" || st.Card == nil || st.Card.Index != 0 || !st.Card.Visible || st.Card.Name == "" {
		t.Fatalf("live status %+v", st)
	}
	if ls := b.app.Panel().Virtual.State(); ls.Base != hw.PatternLive || ls.Ring == hw.LevelOff {
		t.Fatalf("panel while live: %+v, want live LED and the ring light on", ls)
	}
	rec := b.ngx.RecordingPath("box")
	waitFor(t, 5*time.Second, "nginx to record video", func() bool {
		fi, err := os.Stat(rec)
		return err == nil && fi.Size() > 100<<10
	})
	t.Logf("big button → nginx recording >100 KiB in %v", time.Since(pressed))

	post(t, c, b.base+"/api/button/big?press=long")
	waitFor(t, 15*time.Second, "status idle", func() bool { return status(t, c, b).State == state.Idle })
	if b.pl.Live() {
		t.Fatal("pipeline still live after the long press")
	}
	// nginx writes its access log line when the publishing session ends.
	access := filepath.Join(filepath.Dir(filepath.Dir(rec)), "access.log")
	waitFor(t, 5*time.Second, "nginx to log the closed session", func() bool {
		b, _ := os.ReadFile(access)
		return bytes.Contains(b, []byte(`PUBLISH "live" "box"`))
	})
	if err := politeUnpublish(b.ngx.ErrorLog(), "box"); err != nil {
		t.Fatal(err)
	}
	res, err := rtmptest.Probe(rec)
	if err != nil {
		t.Fatalf("probe recording: %v", err)
	}
	v := res.Video()
	if v == nil || v.Width != 720 || v.Height != 1280 || res.Audio() == nil {
		t.Fatalf("recording streams: %+v", res)
	}
	if err := res.CheckMonotonic(v.Index); err != nil {
		t.Fatal(err)
	}
	if ls := b.app.Panel().Virtual.State(); ls.Base != hw.PatternIdle {
		t.Fatalf("LED after ending: %q, want idle", ls.Base)
	}
}

// politeUnpublish checks nginx's log of the session that published name:
// the publisher sent deleteStream before the connection closed. (When a
// client just drops the connection nginx logs the disconnect first and
// then deletes the stream itself.)
func politeUnpublish(log, name string) error {
	m := regexp.MustCompile(`\*(\d+) publish: name='` + regexp.QuoteMeta(name) + `'`).FindStringSubmatch(log)
	if m == nil {
		return fmt.Errorf("nginx log has no publish of %q:\n%s", name, log)
	}
	session := "*" + m[1] + " "
	var events []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, session) {
			continue
		}
		switch {
		case strings.Contains(line, session+"deleteStream"):
			events = append(events, "deleteStream")
		case strings.Contains(line, session+"disconnect"):
			events = append(events, "disconnect")
		}
	}
	if len(events) < 2 || events[0] != "deleteStream" || !slices.Contains(events, "disconnect") {
		return fmt.Errorf("session %s ended with %v, want deleteStream (polite unpublish) then disconnect", session, events)
	}
	return nil
}

// grabRTMPFrame decodes one current frame from what nginx serves, at w×h:
// a loaded machine's box may have stepped its picture down (bitrate
// adaptation), and the card is then compared scaled back up.
func grabRTMPFrame(t *testing.T, url string, w, h int) *hw.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", url,
		"-frames:v", "1", "-vf", fmt.Sprintf("scale=%d:%d:flags=bicubic", w, h), "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pull a frame from %s: %v: %s", url, err, stderr.String())
	}
	if out.Len() != w*h*3/2 {
		t.Fatalf("pulled frame: %d bytes, want %d", out.Len(), w*h*3/2)
	}
	f := hw.NewFrame(w, h)
	r := bytes.NewReader(out.Bytes())
	for _, plane := range [][]byte{f.Y, f.U, f.V} {
		if _, err := io.ReadFull(r, plane); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// whepLoopback lets a browser on this machine reach the preview.
func whepLoopback() whep.Config { return whep.Config{IncludeLoopback: true} }

func TestPoliteUnpublishCheck(t *testing.T) {
	const pub = "[info] 1#1: *2 publish: name='box' args='' type=live silent=0, client: 127.0.0.1\n"
	for _, tc := range []struct {
		name, log string
		ok        bool
	}{
		{"polite", pub + "[info] 1#1: *2 deleteStream, client\n[info] 1#1: *2 disconnect, client\n[info] 1#1: *2 deleteStream, client\n", true},
		{"dropped", pub + "[info] 1#1: *2 disconnect, client\n[info] 1#1: *2 deleteStream, client\n", false},
		{"still open", pub, false},
		{"other session", pub + "[info] 1#1: *3 deleteStream, client\n[info] 1#1: *2 disconnect, client\n", false},
	} {
		if err := politeUnpublish(tc.log, "box"); (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
