package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/config"
)

// TestFromConfigNeverShowsABannedCard: the box's catalogue holds a card
// whose name breaks the advertising law between two good ones. The
// pipeline's cards are only the good ones, so next and previous can never
// bring the banned words on screen, and the phone page's problems say
// which row, which words and what to write instead.
func TestFromConfigNeverShowsABannedCard(t *testing.T) {
	dir := t.TempDir()
	catalogue := filepath.Join(dir, "商品.csv")
	const banned = "全网最好的野生蜂蜜 包治百病"
	if err := os.WriteFile(catalogue, []byte("名称,价格\n榕江古法辣椒酱,39.9\n"+banned+",128\n柴火烟熏腊肉,88\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DeviceID, cfg.PIN = "desk-3", testPIN
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Catalogue = catalogue
	cfg.RulePack = filepath.Join(dir, "no-rules")
	cfg.Speech.ModelDir = filepath.Join(dir, "models")
	cfg.Video.Source, cfg.Audio.Source = "test", "test"
	cfg.Record.Dir = filepath.Join(dir, "record")
	cfg.Record.QuotaMB = 256
	opts, err := app.FromConfig(&cfg, app.BuildOptions{VirtualPanel: true, Logger: testLogger(t),
		ConfigProblems: []*config.FieldError{{File: "/etc/cunbo/cunbo.toml", Line: 9, Key: "video.fps", Msg: "每秒画面数要在 1 到 60 之间，现在是 0", Example: "fps = 30", Default: "30"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Problems) != 3 {
		t.Fatalf("problems %+v", opts.Problems)
	}
	if p := opts.Problems[0]; p.Source != "config" || p.Where != "cunbo.toml 第9行 (video.fps)" || p.Hint != "fps = 30" || !strings.Contains(p.Message, "默认值 30") {
		t.Errorf("config problem %+v", p)
	}
	for _, p := range opts.Problems[1:] {
		if p.Source != "card" || !strings.Contains(p.Where, "商品.csv 第3行「"+banned+"」") || p.Hint == "" || !strings.Contains(p.Message, "不会出现在直播画面上") {
			t.Errorf("card problem %+v", p)
		}
	}

	pl := opts.Pipeline
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
	seen := map[string]bool{}
	for i := range 6 {
		seen[pl.Card().Name] = true
		step := pl.NextCard
		if i >= 3 {
			step = pl.PrevCard
		}
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 || !seen["榕江古法辣椒酱"] || !seen["柴火烟熏腊肉"] || seen[banned] {
		t.Fatalf("cards shown: %v", seen)
	}
}
