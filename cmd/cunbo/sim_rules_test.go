package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/config"
)

// TestSimAndBoxApplyTheSameRules builds the simulator (as `cunbo sim`
// does) and the box (as `cunbo run` does) from the same catalogue, quota
// and PIN, and checks they keep the same cards, give the flagged moments
// the same quota and accept or refuse the same PINs with the same words.
// They used to differ: the simulator took a PIN printed in the manual,
// gave flagged moments 1 GiB whatever the recording's quota, and loaded
// the catalogue by a code path of its own.
func TestSimAndBoxApplyTheSameRules(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "商品.csv")
	// One card she may show, one that breaks the advertising law.
	if err := os.WriteFile(csv, []byte("名称,价格\n高山土蜂蜜,68\n全网最低价辣椒酱,39.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const quotaMB = 400
	build := map[string]func(t *testing.T, pin string) (app.Options, error){
		"sim": func(t *testing.T, pin string) (app.Options, error) {
			d := t.TempDir()
			return buildSim(simConfig{CatalogCSV: csv, Card: 1, RecordQuota: quotaMB << 20,
				RecordDir: filepath.Join(d, "recording"), DataDir: d, HTTPAddr: "127.0.0.1:0", PIN: pin,
				PreviewAddr: "", VideoKbps: 1500, AudioWAV: ""}, io.Discard)
		},
		"box": func(t *testing.T, pin string) (app.Options, error) {
			d := t.TempDir()
			cfg := config.Default()
			cfg.Video.Source, cfg.Audio.Source = "test", "test"
			cfg.Catalogue, cfg.RulePack, cfg.Speech.ModelDir = csv, "", ""
			cfg.Record.Dir, cfg.Record.QuotaMB, cfg.StateDir = filepath.Join(d, "recording"), quotaMB, d
			cfg.DeviceID, cfg.PIN = "desk-1", pin
			return app.FromConfig(&cfg, app.BuildOptions{VirtualPanel: true, HTTPAddr: "127.0.0.1:0",
				Logger: slog.New(slog.DiscardHandler)})
		},
	}

	type outcome struct {
		Err      string
		Problems []string
		Card     string
		Quota    int64
	}
	for _, tc := range []struct {
		name, pin string
		ok        bool
	}{
		{"good PIN", "381957", true},
		{"PIN printed in the manual", "246813", false},
		{"PIN too short", "38195", false},
		{"PIN easy to guess", "123456", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]outcome{}
			for _, who := range []string{"sim", "box"} {
				opts, err := build[who](t, tc.pin)
				var o outcome
				if err != nil {
					o.Err = err.Error()
				} else {
					for _, p := range opts.Problems {
						o.Problems = append(o.Problems, p.Where+" "+p.Message)
					}
					o.Card = opts.Pipeline.Card().Name
					o.Quota = opts.Compliance.Loop().Store().Quota()
				}
				if (err == nil) != tc.ok {
					t.Errorf("%s with PIN %s: err %v, want ok=%v", who, tc.pin, err, tc.ok)
				}
				got[who] = o
			}
			if !reflect.DeepEqual(got["sim"], got["box"]) {
				t.Errorf("the simulator and the box differ:\nsim %+v\nbox %+v", got["sim"], got["box"])
			}
			if tc.ok {
				o := got["box"]
				if o.Quota != quotaMB<<20/4 {
					t.Errorf("flagged quota %d, want a quarter of the recording's %d", o.Quota, quotaMB<<20)
				}
				if o.Card != "高山土蜂蜜" || len(o.Problems) == 0 {
					t.Errorf("first card %q, problems %q: want the honey shown and the banned card explained", o.Card, o.Problems)
				}
			}
		})
	}
}
