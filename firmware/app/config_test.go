package app_test

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/config"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/stream/whip/whiptest"
)

// TestFromConfigPublishesWHIP: a whip destination is published to, with
// its key as the bearer token, next to an rtmp one. The real WHIP
// endpoint accepts the right token and refuses a wrong one, and the
// pipeline's status says which destination failed and why.
func TestFromConfigPublishesWHIP(t *testing.T) {
	srv, err := whiptest.Start(whiptest.Config{Token: "gWtYpNvHsDfK"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DeviceID, cfg.PIN = "desk-2", testPIN
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Catalogue = ""
	cfg.RulePack = filepath.Join(dir, "no-rules")
	cfg.Speech.ModelDir = filepath.Join(dir, "models")
	cfg.Video.Source, cfg.Audio.Source = "test", "test"
	cfg.Record.Dir = filepath.Join(dir, "record")
	cfg.Record.QuotaMB = 256
	cfg.Dest = []config.Destination{
		{Name: "抖音", Kind: "rtmp", URL: "rtmp://127.0.0.1:1/live/", Key: "kQzRmXwTbLpY"},
		{Name: "视频号", Kind: "whip", URL: srv.URL(), Key: "gWtYpNvHsDfK"},
		{Name: "旧地址", Kind: "whip", URL: srv.URL(), Key: "sTxLqJbMnRcV"},
	}
	opts, err := app.FromConfig(&cfg, app.BuildOptions{VirtualPanel: true, HTTPAddr: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	pl := opts.Pipeline
	want := []pipeline.Destination{
		{Name: "抖音", Kind: pipeline.KindRTMP, URL: "rtmp://127.0.0.1:1/live/kQzRmXwTbLpY"},
		{Name: "视频号", Kind: pipeline.KindWHIP, URL: srv.URL(), Token: "gWtYpNvHsDfK"},
		{Name: "旧地址", Kind: pipeline.KindWHIP, URL: srv.URL(), Token: "sTxLqJbMnRcV"},
	}
	if got := pl.Destinations(); !reflect.DeepEqual(got, want) {
		t.Errorf("pipeline destinations\n got %+v\nwant %+v", got, want)
	}
	secrets := []string{"kQzRmXwTbLpY", "gWtYpNvHsDfK", "sTxLqJbMnRcV"}
	for _, secret := range secrets {
		if part := leaked(opts.Destination, secret); part != "" {
			t.Errorf("shown destination %q leaks %q of %q", opts.Destination, part, secret)
		}
	}
	if !strings.Contains(opts.Destination, "视频号 (http://127.0.0.1") || !strings.Contains(opts.Destination, "密钥 ****") {
		t.Errorf("shown destination %q, want the WHIP host and the masked token", opts.Destination)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pl.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("pipeline Run: %v", err)
		}
	}()
	waitFor(t, 15*time.Second, "encoded video", func() bool { return pl.Stats().Encoder.VideoUnits > 0 })
	// Nothing here connects fully (the RTMP port is closed, and this
	// box's ICE leaves loopback out), so GoLive gives up on its own;
	// what the WHIP endpoint saw meanwhile is the point.
	liveCtx, liveCancel := context.WithCancel(ctx)
	liveDone := make(chan error, 1)
	go func() { liveDone <- pl.GoLive(liveCtx) }()
	waitFor(t, 15*time.Second, "the WHIP endpoint accepting the right token, refusing the wrong one", func() bool {
		if srv.Stats().Sessions < 1 {
			return false
		}
		for _, d := range pl.Stats().Destinations {
			if d.Name == "旧地址" && strings.Contains(d.LastError, "401") {
				return true
			}
		}
		return false
	})
	for _, d := range pl.Stats().Destinations {
		for _, secret := range secrets {
			if part := leaked(d.URL+" "+d.LastError, secret); part != "" {
				t.Errorf("destination status %q %q leaks %q of %q", d.URL, d.LastError, part, secret)
			}
		}
	}
	liveCancel()
	<-liveDone
	if err := pl.End(); err != nil {
		t.Fatal(err)
	}
}

// leaked is the first 4 characters in a row of secret that text shows, ""
// when none: a key must not show at all, not even its first or last few.
func leaked(text, secret string) string {
	for i := 0; i+4 <= len(secret); i++ {
		if strings.Contains(text, secret[i:i+4]) {
			return secret[i : i+4]
		}
	}
	return ""
}
