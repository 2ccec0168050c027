package pipeline

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/cunbo/cunbo/stream/whip"
)

// countingProxy forwards TCP to target and counts the connections it
// accepts: nginx-rtmp itself cannot say that nobody knocked.
func countingProxy(t *testing.T, target string) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{})
				go func() { _, _ = io.Copy(up, c); up.Close(); close(done) }()
				_, _ = io.Copy(c, up)
				c.Close()
				<-done
			}()
		}
	}()
	return ln.Addr().String(), accepted
}

// TestPracticePublishesNothing runs a practice with a real nginx-rtmp and a
// real WHIP endpoint configured: while the preview plays and the recorder
// records, neither is ever contacted. Going live afterwards reaches both,
// so the silence is the practice's doing, not a broken set-up.
func TestPracticePublishesNothing(t *testing.T) {
	ngx := rtmptest.New(t)
	proxy, accepted := countingProxy(t, ngx.Addr())
	wsrv := startWHIP(t, "")
	addr := freeAddr(t)
	dir := t.TempDir()
	p := start(t, Config{
		Catalog:     demoCatalog(t),
		PreviewAddr: addr,
		RecordDir:   filepath.Join(dir, "ring"),
		RecordQuota: 200 << 20,
		Destinations: []Destination{
			{Name: "抖音", Kind: KindRTMP, URL: "rtmp://" + proxy + "/live/box"},
			{Name: "视频号", Kind: KindWHIP, URL: wsrv.URL()},
		},
		RTMPConfig: rtmp.Config{Logger: testLogger(t)},
		WHIPConfig: whip.Config{SettingEngine: loopbackICE},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := p.Practice(ctx); err != nil {
		t.Fatalf("Practice: %v", err)
	}
	if !p.Live() {
		t.Fatal("Live() = false during a practice; the box's recording and warnings follow it")
	}
	// The preview plays while she practises.
	res, err := rtmptest.ProbeContext(ctx, "rtsp://"+addr+"/live", false, "-rtsp_transport", "tcp")
	if err != nil {
		t.Fatalf("ffprobe preview during practice: %v", err)
	}
	if res.Video() == nil || res.Audio() == nil {
		t.Fatalf("preview streams %+v, want video and audio", res.Streams)
	}
	time.Sleep(3 * time.Second)
	if st := p.Recorder().Stats(); st.FragmentsWritten == 0 {
		t.Errorf("recorder stats %+v: nothing recorded during the practice", st)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("nginx-rtmp got %d connections during a practice, want 0", n)
	}
	if st := wsrv.Stats(); st.Sessions != 0 || st.Frames != 0 {
		t.Errorf("WHIP endpoint got %+v during a practice, want nothing", st)
	}
	if st := p.Stats(); len(st.Destinations) != 0 {
		t.Errorf("Stats().Destinations during a practice = %+v, want none", st.Destinations)
	}
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ngx.RecordingPath("box")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nginx has a recording after a practice: %v", err)
	}

	// The same pipeline going live reaches both.
	if err := p.GoLive(ctx); err != nil {
		t.Fatalf("GoLive after practice: %v\n%s", err, ngx.ErrorLog())
	}
	waitFor(t, 30*time.Second, "both destinations receiving after going live", func() bool {
		return accepted.Load() > 0 && wsrv.Stats().Frames > 0
	})
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
}
