package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/provision"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/review/accounts"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/console"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
)

// A trainer sets up a box end to end: in the console (Chromium) she
// uploads the seller's catalogue as Excel saves it (GBK CSV, one row
// without a price), sees the cards as the box draws them and the row's
// problem, fills where to stream and the PIN, picks the box and publishes.
// The box — its key enrolled, the organisation's root from its first
// stick — fetches the bundle when idle, applies it, restarts as `cunbo
// run` does (app.LoadConfig, app.FromConfig), says so on its phone page,
// and goes live on nginx-rtmp with the trainer's stream key and her cards.
//
// It times the machine's part of each step (README, "For trainers"):
// what the trainer waits for, not what she does.
func TestTrainerProvisionsABoxInChromium(t *testing.T) {
	ctx := context.Background()
	var laps []string
	var total time.Duration
	lapStart := time.Now()
	lap := func(step string) {
		d := time.Since(lapStart)
		total += d
		laps = append(laps, fmt.Sprintf("%-58s %6.1f s", step, d.Seconds()))
		lapStart = time.Now()
	}
	defer func() {
		if !t.Failed() {
			t.Logf("machine steps, as the trainer waits for them:\n%s\n%-58s %6.1f s", strings.Join(laps, "\n"), "total", total.Seconds())
		}
	}()
	ngx := rtmptest.New(t)
	o := newTrainerOrg(t)
	dataDir := t.TempDir()
	srv, err := server.Open(ctx, server.Config{DataDir: dataDir, Log: slog.New(slog.DiscardHandler),
		Signing: &console.Signing{Key: o.trainer, Cert: o.cert, Root: o.root.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	review := httptest.NewServer(srv.Handler())
	t.Cleanup(review.Close)
	const trainerPassword = "rongjiang-2026-pw"
	hash, err := accounts.Hash(trainerPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Store().AddUser(ctx, store.User{Name: "杨老师", Roles: []string{store.RoleTrainer}, Hash: hash, Created: time.Now()},
		store.AuditEntry{At: time.Now(), Actor: "test", Action: "user.add", Subject: "杨老师"}); err != nil {
		t.Fatal(err)
	}

	// The new box: its key made on first boot, enrolled (the trainer
	// scanned its QR), the organisation's root from its first stick.
	base := t.TempDir()
	stateDir, stick := filepath.Join(base, "state"), t.TempDir()
	prov, _, _, err := app.OpenProvisioning(stateDir, provision.DirStick{Globs: []string{stick}}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	pub := prov.Key.Public().(ed25519.PublicKey)
	boxID, err := boxauth.Enroll(ctx, srv.Store(), pub, "榕江 杨阿姨", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o.putOnStick(t, stick, "1.cunbo", o.bundleFor(t, pub, 1))
	lapStart = time.Now()
	runCtx, stop := context.WithTimeout(ctx, 90*time.Second)
	defer stop()
	if err := boxWith(t, stateDir, prov).Run(runCtx, nil); !errors.Is(err, app.ErrRestart) {
		t.Fatalf("first stick: Run %v, want ErrRestart", err)
	}
	lap("new box starts, takes the stick's bundle, asks to restart")

	// The trainer's console.
	csv, photo := filepath.Join(base, "榕江商品.csv"), filepath.Join(base, "ji.png")
	if err := os.WriteFile(csv, gbkCatalogue(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(photo, testPNG(t), 0o644); err != nil {
		t.Fatal(err)
	}
	const streamKey, pin = "yang-9f3k", "529174"
	bctx := chromium(t)
	do(t, bctx, 60*time.Second, chromedp.Navigate(review.URL+"/console/login"), chromedp.WaitVisible(chromedp.CSS("#name")))
	lapStart = time.Now()
	do(t, bctx, 60*time.Second,
		chromedp.Navigate(review.URL+"/console/login"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "杨老师"),
		chromedp.SendKeys(chromedp.CSS("#password"), trainerPassword),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/provision"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/console/provision"]`)),
		chromedp.WaitVisible(chromedp.CSS("#upload-form")),
		chromedp.SetUploadFiles(chromedp.CSS("#catalogue"), []string{csv}),
		chromedp.SetUploadFiles(chromedp.CSS("#photos"), []string{photo}),
		chromedp.Click(chromedp.CSS("#upload")),
		chromedp.WaitVisible(chromedp.CSS("#cards")),
		poll(`(() => { const i = document.querySelector('#cards img'); return i && i.complete && i.naturalWidth > 300 })()`),
	)
	lap("console: log in, upload the catalogue, every card drawn")
	if n := eval[float64](t, bctx, `document.querySelectorAll('#cards img').length`); n != 2 {
		t.Errorf("%v card pictures, want 2 (row 3 has no price)", n)
	}
	if rows := eval[string](t, bctx, `document.getElementById('row-problems').innerText`); !strings.Contains(rows, "第3行") || !strings.Contains(rows, "价格") {
		t.Errorf("row problems %q lack row 3's price", rows)
	}
	if cards := eval[string](t, bctx, `document.getElementById('cards').innerText`); !strings.Contains(cards, "榕江小香鸡") || !strings.Contains(cards, "古州香米") {
		t.Errorf("cards %q lack the catalogue's products", cards)
	}
	ingest := strings.TrimSuffix(ngx.URL(streamKey), "/"+streamKey)
	lapStart = time.Now()
	do(t, bctx, 60*time.Second,
		chromedp.SendKeys(chromedp.CSS("#douyin_url"), ingest),
		chromedp.SendKeys(chromedp.CSS("#douyin_key"), streamKey),
		chromedp.SendKeys(chromedp.CSS("#pin"), pin),
		chromedp.Click(chromedp.CSS(`#boxes input[value="`+boxID+`"]`)),
		chromedp.Click(chromedp.CSS("#publish")),
		chromedp.WaitVisible(chromedp.CSS("#provision-msg")),
	)
	pb, err := srv.Store().LatestBundle(ctx, boxID)
	if err != nil {
		t.Fatalf("no bundle published for the box: %v (page says %q)", err, text(t, bctx, "#provision-msg"))
	}
	lap("console: fill in, sign and publish the bundle")

	// The box, started with version 1 and the review service, takes the
	// published bundle over the network and asks to restart.
	p1, v, _, err := app.OpenProvisioning(stateDir, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if v.Number != 1 {
		t.Fatalf("after the stick: version %d, want 1", v.Number)
	}
	rb := reviewBox(t, stateDir, review.URL, p1)
	lapStart = time.Now()
	if err := rb.Run(runCtx, nil); !errors.Is(err, app.ErrRestart) {
		t.Fatalf("Run: %v, want ErrRestart for the published bundle", err)
	}
	lap("box starts, fetches the published bundle, applies it")
	if v, ok := p1.Store.Current(); !ok || v.Number != pb.Version {
		t.Fatalf("current %+v, want the published version %d", v, pb.Version)
	}

	// The restart, as `cunbo run` does it: the factory file, with the
	// bundle's configuration laid over. This box has no camera or
	// microphone: the test pattern and tone stand in for them.
	lapStart = time.Now()
	factory := filepath.Join(base, "cunbo.toml")
	if err := os.WriteFile(factory, []byte("device_id = \"rongjiang-01\"\nstate_dir = "+strconv.Quote(stateDir)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, p2, err := app.LoadConfig(factory, nil, testLogger(t))
	if err != nil || p2 == nil {
		t.Fatalf("LoadConfig: %v (provisioning %v)", err, p2)
	}
	if !p2.Trial {
		t.Error("the new version is not on trial after the restart")
	}
	cfg.Video.Source, cfg.Audio.Source = "test", "test"
	cfg.Video.BitrateKbps = 1200
	cfg.Speech.ModelDir = filepath.Join(base, "models") // none installed
	cfg.RulePack = filepath.Join(base, "no-rules")      // the built-in rules
	cfg.Record.Dir, cfg.Record.QuotaMB = filepath.Join(base, "record"), 256
	opts, err := app.FromConfig(cfg, app.BuildOptions{VirtualPanel: true, HTTPAddr: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	p2.ReadyWithin = 60 * time.Second
	opts.Provision, opts.Preview = p2, whepLoopback()
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	phone := runApp(t, a)
	lap("box restarts with the new setup, ready")

	// Her phone page says the new setup is in use, shows her first card,
	// and goes live.
	applied := fmt.Sprintf("✅ 新设置已用上 (第 %d 版)", pb.Version)
	do(t, bctx, 60*time.Second,
		chromedp.Navigate(phone+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pin")),
	)
	lapStart = time.Now()
	do(t, bctx, 60*time.Second,
		chromedp.SendKeys(chromedp.CSS("#pin"), pin),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#app")),
		poll(`document.getElementById('setup-outcome').textContent.includes(`+strconv.Quote(applied)+`)`),
		poll(`document.getElementById('card-name').textContent === '榕江小香鸡'`),
		chromedp.Click(chromedp.CSS("#btn-big")),
		poll(`document.getElementById('state-label').textContent === '直播中'`),
	)
	if st := a.Box.Status().State; st != state.Live {
		t.Fatalf("box %s after tapping 开播", st)
	}
	lap("phone page: PIN, ✅ shown, card shown, 开播 until 直播中")
	comp := opts.Pipeline.Compositor()
	if _, err := comp.Card(1); err != nil {
		t.Errorf("the box has no second card: %v", err)
	}
	if _, err := comp.Card(2); err == nil {
		t.Error("the box has a third card: row 3 without a price must not become one")
	}
	// A viewer on nginx sees the trainer's first card on the stream sent
	// with the key sealed in the bundle.
	deadline := time.Now().Add(20 * time.Second)
	for {
		f := grabRTMPFrame(t, ngx.URL(streamKey), 720, 1280)
		got, mismatch := comp.Identify(f)
		if got == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the RTMP viewer sees card %d (mismatch %.1f), want the trainer's first card", got, mismatch)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if c := opts.Pipeline.Card(); c.Name != "榕江小香鸡" || !c.Visible {
		t.Errorf("the box shows %+v, want 榕江小香鸡", c)
	}
}

// gbkCatalogue is a catalogue as Chinese Excel saves "CSV": GBK, CRLF,
// with row 3 missing its price.
func gbkCatalogue(t *testing.T) []byte {
	t.Helper()
	csv := "编号,名称,价格,规格,链接号,图片,卖点\r\n" +
		"1,榕江小香鸡,68,一只约1.5斤,1,ji.png,山上散养\r\n" +
		"2,侗家腌鱼,,500克/袋,2,,酸香下饭\r\n" +
		"3,古州香米,39.9,5斤/袋,3,,新米\r\n"
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = 0xc0
	}
	img.Set(3, 3, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
