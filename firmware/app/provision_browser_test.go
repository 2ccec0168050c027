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
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/cunbo/cunbo/bundle"
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

// A trainer sets up a box end to end: on her phone (Chromium) she opens
// the new box's page, copies its identity (📋 复制) and screenshots its
// 🔧 盒子身份 card, and adds the box in the console from the screenshot
// (➕ 添加新盒子), the fingerprints alike. The box takes its first stick.
// In the console she uploads the seller's catalogue as Excel saves it
// (GBK CSV, one row without a price), sees the cards as the box draws them and the row's
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

	// The new box: its key made on first boot, idle, its phone page up.
	// The organisation's root comes later, on its first stick.
	base := t.TempDir()
	stateDir, stick := filepath.Join(base, "state"), t.TempDir()
	prov, _, _, err := app.OpenProvisioning(stateDir, provision.DirStick{Globs: []string{stick}}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	pub := prov.Key.Public().(ed25519.PublicKey)
	boxID := boxauth.BoxID(pub)
	runCtx, stop := context.WithTimeout(ctx, 90*time.Second)
	defer stop()
	lapStart = time.Now()
	first, ready := boxWith(t, stateDir, prov), make(chan string, 1)
	firstRun := make(chan error, 1)
	go func() { firstRun <- first.Run(runCtx, func(addr string) { ready <- "http://" + addr }) }()
	var boxPage string
	select {
	case boxPage = <-ready:
	case err := <-firstRun:
		t.Fatalf("the new box stopped before its page was up: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the new box's page not up in 60 s")
	}
	lap("new box starts, its phone page up")

	// The trainer, on her phone: the box's page, 🔧 盒子身份, 📋 复制 (the
	// page served over plain http on the LAN has no navigator.clipboard:
	// the fallback field is what she sees), and a screenshot of the card.
	bctx := chromium(t)
	do(t, bctx, 60*time.Second, chromedp.Navigate(boxPage+"/"), chromedp.WaitVisible(chromedp.CSS("#pin")))
	lapStart = time.Now()
	do(t, bctx, 60*time.Second,
		chromedp.Evaluate[chromedp.Void](`Object.defineProperty(navigator, 'clipboard', {value: undefined})`),
		chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#setup-area")),
		chromedp.ScrollIntoView(chromedp.CSS("#setup-qr")),
		poll(`document.getElementById('setup-qr').complete && document.getElementById('setup-qr').naturalWidth > 0`),
		chromedp.Click(chromedp.CSS("#setup-copy")),
		chromedp.WaitVisible(chromedp.CSS("#setup-copied")),
	)
	boxFingerprint := text(t, bctx, "#setup-fingerprint")
	if got := eval[string](t, bctx, `document.getElementById('setup-enrol').value`); got != bundle.EnrolText(pub) {
		t.Errorf("the copy field holds %q, want %q", got, bundle.EnrolText(pub))
	}
	if sel := eval[string](t, bctx, `String(window.getSelection()) || (() => { const f = document.activeElement; return f && f.id === 'setup-enrol' ? f.value.slice(f.selectionStart, f.selectionEnd) : '' })()`); sel != bundle.EnrolText(pub) {
		t.Errorf("after 📋 复制 on plain http, %q is selected, want the whole identity", sel)
	}
	if got := text(t, bctx, "#setup-copied"); !strings.Contains(got, "已复制 ✅") && !strings.Contains(got, "长按") {
		t.Errorf("after 📋 复制 the page says %q", got)
	}
	do(t, bctx, 10*time.Second, chromedp.ScrollIntoView(chromedp.CSS("#setup-qr")))
	c, cancel := context.WithTimeout(bctx, 20*time.Second)
	screenshot, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	shotFile := filepath.Join(base, "Screenshot_box.png")
	if err := os.WriteFile(shotFile, screenshot, 0o644); err != nil {
		t.Fatal(err)
	}
	lap("phone: box page, PIN, 📋 复制, screenshot of 🔧 盒子身份")

	// Still on her phone: the console, ➕ 添加新盒子, the screenshot.
	do(t, bctx, 60*time.Second, chromedp.Navigate(review.URL+"/console/login"), chromedp.WaitVisible(chromedp.CSS("#name")))
	lapStart = time.Now()
	do(t, bctx, 60*time.Second,
		chromedp.SendKeys(chromedp.CSS("#name"), "杨老师"),
		chromedp.SendKeys(chromedp.CSS("#password"), trainerPassword),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/provision"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/console/provision"]`)),
		chromedp.WaitVisible(chromedp.CSS("#enrol-link")),
		chromedp.Click(chromedp.CSS("#enrol-link")),
		chromedp.WaitVisible(chromedp.CSS("#enrol-form")),
		chromedp.SetUploadFiles(chromedp.CSS("#photo"), []string{shotFile}),
		chromedp.SendKeys(chromedp.CSS("#boxname"), "榕江 杨阿姨"),
		chromedp.Click(chromedp.CSS("#enrol")),
		chromedp.WaitVisible(chromedp.CSS("#enrolled")),
	)
	lap("console: log in, ➕ 添加新盒子 with the screenshot, fingerprint shown")
	if got := text(t, bctx, "#fingerprint"); got != boxFingerprint {
		t.Fatalf("the console shows fingerprint %q, the box %q", got, boxFingerprint)
	}
	if b, err := srv.Store().Box(ctx, boxID); err != nil || b.Name != "榕江 杨阿姨" {
		t.Fatalf("box after enrolling in the console: %+v, %v", b, err)
	}

	// The first stick: the box takes its bundle and asks to restart.
	o.putOnStick(t, stick, "1.cunbo", o.bundleFor(t, pub, 1))
	lapStart = time.Now()
	select {
	case err := <-firstRun:
		if !errors.Is(err, app.ErrRestart) {
			t.Fatalf("first stick: Run %v, want ErrRestart", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the box did not take the stick's bundle in 60 s")
	}
	lap("new box sees the stick, takes its bundle, asks to restart")

	// The trainer's console: the catalogue.
	csv, photo := filepath.Join(base, "榕江商品.csv"), filepath.Join(base, "ji.png")
	if err := os.WriteFile(csv, gbkCatalogue(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(photo, testPNG(t), 0o644); err != nil {
		t.Fatal(err)
	}
	const streamKey, pin = "yang-9f3k", "529174"
	do(t, bctx, 60*time.Second, chromedp.Click(chromedp.CSS("#to-provision")), chromedp.WaitVisible(chromedp.CSS("#upload-form")))
	lapStart = time.Now()
	do(t, bctx, 60*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS("#catalogue"), []string{csv}),
		chromedp.SetUploadFiles(chromedp.CSS("#photos"), []string{photo}),
		chromedp.Click(chromedp.CSS("#upload")),
		chromedp.WaitVisible(chromedp.CSS("#cards")),
		poll(`(() => { const i = document.querySelector('#cards img'); return i && i.complete && i.naturalWidth > 300 })()`),
	)
	lap("console: upload the catalogue, every card drawn")
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
	// The box knows its review service now: its 🔧 card links to the
	// console page that adds it, which says it is added already.
	wantLink := review.URL + "/console/boxes/enrol?key=" + url.QueryEscape(bundle.EnrolText(pub))
	if link := eval[string](t, bctx, `(() => { const a = document.getElementById('setup-enrol-link'); return a.hidden ? '' : a.href })()`); link != wantLink {
		t.Errorf("the 🔧 card links to %q, want %q", link, wantLink)
	} else {
		do(t, bctx, 60*time.Second, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#enrol-form")),
			chromedp.SendKeys(chromedp.CSS("#boxname"), "杨阿姨 又一次"), chromedp.Click(chromedp.CSS("#enrol")),
			chromedp.WaitVisible(chromedp.CSS("#enrol-error")))
		if got := text(t, bctx, "#enrol-error"); !strings.Contains(got, "这个盒子已经添加过了（名字：榕江 杨阿姨") {
			t.Errorf("adding the box again from its link says %q", got)
		}
	}
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
