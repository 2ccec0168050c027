package app_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/config"
	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/segment"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
)

// TestFromConfigWiresCompliance builds the box exactly as `cunbo run`
// does, with no speech model installed: the phone page says captions are off
// and why, the stream goes out, and the mark button (pressed on the
// virtual panel) leaves a flagged segment with a playable clip under the
// state dir.
func TestFromConfigWiresCompliance(t *testing.T) {
	ngx := rtmptest.New(t)
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DeviceID = "desk-1"
	cfg.PIN = testPIN
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Catalogue = ""
	cfg.RulePack = filepath.Join(dir, "no-rules") // missing: built-in rules
	cfg.Video.Source, cfg.Audio.Source = "test", "test"
	cfg.Video.BitrateKbps = 1200
	cfg.Speech.ModelDir = filepath.Join(dir, "models") // nothing installed
	cfg.Record.Dir = filepath.Join(dir, "record")
	cfg.Record.QuotaMB = 256
	cfg.Dest = []config.Destination{{Name: "test", Kind: "rtmp", URL: "rtmp://" + ngx.Addr() + "/live", Key: "box"}}

	opts, err := app.FromConfig(&cfg, app.BuildOptions{VirtualPanel: true, HTTPAddr: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Compliance == nil {
		t.Fatal("FromConfig built no compliance loop")
	}
	opts.Preview = whepLoopback()
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b := &box{app: a, pl: opts.Pipeline, ngx: ngx, base: runApp(t, a)}
	c := client(t, b)

	// Captions off, with the reason in her words.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(b.base + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Captions struct {
				On     bool   `json:"on"`
				Reason string `json:"reason"`
			} `json:"captions"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !st.Captions.On && st.Captions.Reason != "" {
			if st.Captions.Reason != "找不到语音程序" && st.Captions.Reason != "没有安装语音识别模型" {
				t.Fatalf("captions off because %q", st.Captions.Reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status captions %+v, want off with a reason", st.Captions)
		}
		time.Sleep(50 * time.Millisecond)
	}

	v := a.Panel().Virtual
	press := func(button string, hold time.Duration) {
		t.Helper()
		pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer pcancel()
		if err := v.Press(pctx, button, hold); err != nil {
			t.Fatal(err)
		}
	}
	press(firmware.ButtonBig, 50*time.Millisecond)
	waitBoxState(t, a, state.Live, 20*time.Second)
	time.Sleep(2 * time.Second)
	press(firmware.ButtonMark, 50*time.Millisecond)

	store, err := flagged.Open(flagged.Config{Dir: filepath.Join(cfg.StateDir, "flagged"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var seg flagged.Segment
	deadline = time.Now().Add(30 * time.Second)
	for {
		// Reopening reads what is on disk; an in-flight write is a hidden
		// temp dir that Open would clean, so only look once it is whole.
		// The segment is written at once; its clip follows once recorded.
		if segs, _ := filepath.Glob(filepath.Join(cfg.StateDir, "flagged", "2*", flagged.JSONFile)); len(segs) == 1 {
			data, err := os.ReadFile(segs[0])
			if err != nil {
				t.Fatal(err)
			}
			if s, err := segment.Parse(data); err == nil && s.ClipPending == nil {
				if store, err = flagged.Open(flagged.Config{Dir: filepath.Join(cfg.StateDir, "flagged"), Logger: testLogger(t)}); err != nil {
					t.Fatal(err)
				}
				seg = store.List()[0]
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no flagged segment after the mark button")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if seg.Reason != flagged.ReasonMark || seg.Device != "desk-1" || seg.Clip == nil {
		t.Fatalf("segment %+v", seg)
	}
	probe, err := rtmptest.Probe(store.ClipPath(seg.ID))
	if err != nil {
		t.Fatalf("ffprobe clip: %v", err)
	}
	// The clip covers go-live to five seconds after the mark (about 7 s).
	// A box starved by a loaded machine may change its picture size while
	// live; the recorder shares the encoder, so the clip is then the
	// longer side of the change and must say so. It may also start its
	// first frame seconds after go-live: what must hold is the press and
	// the five seconds after it.
	after := 4500 * time.Millisecond
	if seg.Clip.Truncated {
		after = 0
		t.Logf("clip truncated at a picture-size change: %v", probe.Duration)
	}
	if seg.Clip.Start.After(seg.At) || seg.Clip.End.Sub(seg.At) < after {
		t.Errorf("clip %v..%v, the press at %v: want the press and %v after it", seg.Clip.Start.Format("15:04:05.000"),
			seg.Clip.End.Format("15:04:05.000"), seg.At.Format("15:04:05.000"), after)
	}
	if v := probe.Video(); v == nil || probe.Duration < seg.Clip.End.Sub(seg.Clip.Start)-time.Second {
		t.Fatalf("clip %+v lasting %v, its record says %v", probe.Streams, probe.Duration, seg.Clip.End.Sub(seg.Clip.Start))
	}
}

func waitBoxState(t *testing.T, a *app.App, want state.State, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for a.Box.Status().State != want {
		if time.Now().After(deadline) {
			t.Fatalf("state %s, want %s", a.Box.Status().State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
