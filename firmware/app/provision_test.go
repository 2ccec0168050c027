package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/provision"
	"github.com/cunbo/cunbo/hw"
)

// trainerOrg is an organisation's root and one trainer, fixed by name.
type trainerOrg struct {
	root, trainer ed25519.PrivateKey
	cert          bundle.Certificate
}

func seededKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("app provision test: " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func newTrainerOrg(t *testing.T) *trainerOrg {
	t.Helper()
	o := &trainerOrg{root: seededKey("root"), trainer: seededKey("trainer")}
	var err error
	o.cert, err = bundle.IssueCertificate(o.root, bundle.Trainer{Serial: 1, Name: "王老师",
		Key:       bundle.PublicKeyHex(o.trainer.Public().(ed25519.PublicKey)),
		NotBefore: time.Now().AddDate(0, -1, 0), NotAfter: time.Now().AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// bundleFor makes version n for the box: a configuration naming its
// catalogue in the bundle, a PIN and a stream key sealed to the box.
func (o *trainerOrg) bundleFor(t *testing.T, box ed25519.PublicKey, n uint64) []byte {
	t.Helper()
	cfg := fmt.Sprintf("device_id = \"box-v%d\"\n"+
		"[[destination]]\nname = \"douyin\"\nkind = \"rtmp\"\nurl = \"rtmp://push.example/live\"\n", n)
	var buf bytes.Buffer
	err := bundle.Build(&buf, bundle.Contents{
		Config:    []byte(cfg),
		Catalogue: map[string][]byte{"商品.csv": []byte("名称,价格,链接号\n榕江小香鸡,68,3\n")},
	}, bundle.Options{
		Version: n, Created: time.Now().Add(-time.Minute), Expires: time.Now().AddDate(0, 0, 30),
		Boxes:  []bundle.Box{{Key: box, Secrets: bundle.Secrets{PIN: "730146", StreamKeys: map[string]string{"douyin": "sk-secret-9"}}}},
		Signer: bundle.Signer{Key: o.trainer, Cert: o.cert}, Root: o.root.Public().(ed25519.PublicKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (o *trainerOrg) putOnStick(t *testing.T, stick, name string, b []byte) {
	t.Helper()
	root := bundle.PublicKeyHex(o.root.Public().(ed25519.PublicKey)) + "\n"
	if err := os.WriteFile(filepath.Join(stick, provision.RootFile), []byte(root), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stick, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// provisionedBox builds a simulated box with setup bundles from the
// folder stick, as `cunbo run` does.
func provisionedBox(t *testing.T, stateDir, stick string) (*app.App, *app.Provisioning) {
	t.Helper()
	prov, _, _, err := app.OpenProvisioning(stateDir, provision.DirStick{Globs: []string{stick}}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return boxWith(t, stateDir, prov), prov
}

// boxWith builds the box; edit changes its options before it is made.
func boxWith(t *testing.T, stateDir string, prov *app.Provisioning, edit ...func(*app.Options)) *app.App {
	t.Helper()
	log := testLogger(t)
	prov.Interval = 100 * time.Millisecond
	prov.ReadyWithin = 60 * time.Second
	epoch := time.Now()
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(true), Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := hw.NewTone(hw.ToneConfig{Format: hw.AudioFormat{SampleRate: 48000, Channels: 1}, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := app.Build(app.Spec{
		Pipeline:      pipeline.Config{Video: video, Audio: audio, Portrait: true, VideoKbps: 800, Epoch: epoch},
		DemoCatalogue: true, StateDir: stateDir, DeviceID: "sim",
		Panel: app.VirtualPanel(), HTTPAddr: "127.0.0.1:0", PIN: testPIN, Preview: whepLoopback(), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.Provision = prov
	for _, e := range edit {
		e(&opts)
	}
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The phone page at 360×640 shows the box's fingerprint and a QR code of
// its key for the trainer, and a tampered bundle on the stick is refused
// there in plain words, with the box's configuration untouched.
func TestSetupOnPhonePageInChromium(t *testing.T) {
	o := newTrainerOrg(t)
	stateDir, stick := t.TempDir(), t.TempDir()
	prov, _, _, err := app.OpenProvisioning(stateDir, provision.DirStick{Globs: []string{stick}}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// The box knows its review service: the card links to the console
	// page that adds it (the link is only followed by the trainer).
	const review = "http://192.168.1.20:8090"
	a := boxWith(t, stateDir, prov, func(o *app.Options) { o.ReviewURL = review })
	base := runApp(t, a)
	boxPub := prov.Key.Public().(ed25519.PublicKey)

	phone := chromium(t)
	do(t, phone, 10*time.Second,
		chromedp.EmulateViewport(360, 640, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	do(t, phone, 30*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pin")),
		chromedp.SendKeys(chromedp.CSS("#pin"), testPIN),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#app")),
		chromedp.WaitVisible(chromedp.CSS("#setup-area")),
	)
	if got := text(t, phone, "#setup-fingerprint"); got != bundle.Fingerprint(boxPub) {
		t.Fatalf("fingerprint on the page %q, want %q", got, bundle.Fingerprint(boxPub))
	}
	if got := text(t, phone, "#setup-trust"); !strings.Contains(got, "第一次要用U盘") || strings.ContainsAny(got, "abcdefghijklmnopqrstuvwxyz.") {
		t.Errorf("a new box's page says %q: want in plain words, no file names, that its first setup comes on a USB stick", got)
	}
	// The link to add the box is a row she can tap: a thumb's height, the
	// card's width.
	type box struct{ W, H, CardW float64 }
	do(t, phone, 10*time.Second, chromedp.ScrollIntoView(chromedp.CSS("#setup-enrol-link")))
	l := eval[box](t, phone, `(() => { const r = document.getElementById('setup-enrol-link').getBoundingClientRect();
	  return {W: r.width, H: r.height, CardW: document.getElementById('setup-area').getBoundingClientRect().width}; })()`)
	if l.H < 44 || l.W < l.CardW*0.8 {
		t.Errorf("the 在后台添加这个盒子 link is %.0f×%.0f px in a %.0f px card, want ≥ 44 px tall and about the card's width", l.W, l.H, l.CardW)
	}
	wantLink := review + "/console/boxes/enrol?key=" + url.QueryEscape(bundle.EnrolText(boxPub))
	if got := eval[string](t, phone, `document.getElementById('setup-enrol-link').href`); got != wantLink {
		t.Errorf("the 🔧 card links to %q, want %q", got, wantLink)
	}
	// The QR decodes as an image, is big enough to scan and fits the
	// narrow screen once scrolled to.
	type qr struct{ W, H, Left, Right, Top, Bottom, Natural float64 }
	do(t, phone, 10*time.Second, chromedp.ScrollIntoView(chromedp.CSS("#setup-qr")),
		poll(`document.getElementById('setup-qr').complete && document.getElementById('setup-qr').naturalWidth > 0`))
	q := eval[qr](t, phone, `(() => { const i = document.getElementById('setup-qr'); const r = i.getBoundingClientRect();
	  return {W: r.width, H: r.height, Left: r.left, Right: r.right, Top: r.top, Bottom: r.bottom, Natural: i.naturalWidth}; })()`)
	if q.Natural == 0 || q.W < 160 || q.W != q.H || q.Left < 0 || q.Right > 360 || q.Top < 0 || q.Bottom > 640 {
		t.Errorf("QR code at 360×640: %+v (want a square ≥ 160 px on screen)", q)
	}

	// A bundle changed after signing, on the stick: refused, said so.
	b := o.bundleFor(t, boxPub, 1)
	i := bytes.Index(b, []byte("榕江小香鸡"))
	b[i+1] ^= 0x01
	o.putOnStick(t, stick, "阿秀.cunbo", b)
	do(t, phone, 30*time.Second, poll(`!document.getElementById('setup-outcome').hidden`))
	want := "❌ " + bundle.FileMismatch.Message()
	if got := text(t, phone, "#setup-outcome"); got != want {
		t.Fatalf("outcome on the page %q, want %q", got, want)
	}
	if _, ok := prov.Store.Current(); ok {
		t.Fatal("the tampered bundle was applied")
	}
	c, cancel := context.WithTimeout(phone, 20*time.Second)
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	cancel()
	if err == nil {
		_ = os.WriteFile("/tmp/cunbo-phone-setup-360x640.png", png, 0o644)
	}
}

// A good bundle on the stick of an idle box is applied and the box asks
// to restart; the next start runs the bundle's configuration (its
// catalogue, PIN and stream key) on trial and confirms it once ready.
func TestStickBundleRestartsAndComesUp(t *testing.T) {
	o := newTrainerOrg(t)
	stateDir, stick := t.TempDir(), t.TempDir()
	a, prov := provisionedBox(t, stateDir, stick)
	o.putOnStick(t, stick, "阿秀.cunbo", o.bundleFor(t, prov.Key.Public().(ed25519.PublicKey), 7))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.Run(ctx, nil); !errors.Is(err, app.ErrRestart) {
		t.Fatalf("Run: %v, want ErrRestart", err)
	}
	if v, ok := prov.Store.Current(); !ok || v.Number != 7 || v.Ready {
		t.Fatalf("current %+v %v, want version 7 not yet confirmed", v, ok)
	}

	// The next start, as `cunbo run` does it.
	factory := filepath.Join(t.TempDir(), "cunbo.toml")
	if err := os.WriteFile(factory, []byte(fmt.Sprintf("device_id = \"factory\"\nstate_dir = %q\n", stateDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, p2, err := app.LoadConfig(factory, provision.DirStick{}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if !p2.Trial || cfg.DeviceID != "box-v7" || cfg.PIN != "730146" || len(cfg.Dest) != 1 || cfg.Dest[0].Key != "sk-secret-9" ||
		cfg.StateDir != stateDir || cfg.Catalogue != filepath.Join(stateDir, "provision", "versions", "v7", "catalogue", "商品.csv") {
		t.Fatalf("config after the bundle: trial=%v %+v", p2.Trial, cfg)
	}
	if _, err := os.Stat(cfg.Catalogue); err != nil {
		t.Fatal(err)
	}
	runApp(t, boxWith(t, stateDir, p2))
	waitUntil(t, 30*time.Second, "version 7 confirmed", func() bool {
		v, ok := p2.Store.Current()
		return ok && v.Number == 7 && v.Ready
	})
	if out := p2.Store.Outcome(); out == nil || out.Message != "✅ 新设置已用上 (第 7 版)" {
		t.Fatalf("outcome %+v", out)
	}
}

// A new configuration that does not come up ready within the set time is
// rolled back by the box itself, which restarts to use the last good one
// and says why on the phone page.
func TestTrialNotReadyInTimeRollsBack(t *testing.T) {
	o := newTrainerOrg(t)
	stateDir, stick := t.TempDir(), t.TempDir()
	a, prov := provisionedBox(t, stateDir, stick)
	o.putOnStick(t, stick, "1.cunbo", o.bundleFor(t, prov.Key.Public().(ed25519.PublicKey), 1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.Run(ctx, nil); !errors.Is(err, app.ErrRestart) {
		t.Fatalf("Run with version 1 on the stick: %v", err)
	}
	factory := filepath.Join(t.TempDir(), "cunbo.toml")
	if err := os.WriteFile(factory, []byte(fmt.Sprintf("device_id = \"factory\"\nstate_dir = %q\n", stateDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, p1, err := app.LoadConfig(factory, provision.DirStick{}, testLogger(t))
	if err != nil || !p1.Trial {
		t.Fatalf("start with version 1: trial=%v %v", p1 != nil && p1.Trial, err)
	}
	if err := p1.Store.Confirm(); err != nil { // version 1 came up
		t.Fatal(err)
	}
	// Version 2 arrives and is applied; the box restarts with it, but it
	// is not ready within the time allowed (here shorter than the
	// picture takes to come).
	a1 := boxWith(t, stateDir, p1)
	o.putOnStick(t, stick, "2.cunbo", o.bundleFor(t, prov.Key.Public().(ed25519.PublicKey), 2))
	p1.Stick = provision.DirStick{Globs: []string{stick}}
	if err := a1.Run(ctx, nil); !errors.Is(err, app.ErrRestart) {
		t.Fatalf("Run with version 2 on the stick: %v", err)
	}
	_, _, p2, err := app.LoadConfig(factory, provision.DirStick{}, testLogger(t))
	if err != nil || !p2.Trial {
		t.Fatalf("start with version 2: %v", err)
	}
	a2 := boxWith(t, stateDir, p2)
	p2.ReadyWithin = time.Millisecond
	start := time.Now()
	if err := a2.Run(ctx, nil); !errors.Is(err, app.ErrRestart) {
		t.Fatalf("Run of a version not ready in time: %v, want ErrRestart", err)
	}
	t.Logf("rolled back %v after the start", time.Since(start).Round(time.Millisecond))
	v, ok := p2.Store.Current()
	if !ok || v.Number != 1 || !v.Ready {
		t.Fatalf("after the rollback current is %+v", v)
	}
	out := p2.Store.Outcome()
	if out == nil || out.Kind != "rollback" || !strings.Contains(out.Message, "第 2 版") || !strings.Contains(out.Reason, "not ready within") {
		t.Fatalf("outcome %+v", out)
	}
	// The stick with version 2 still in: not taken again.
	if got := p2.Store.Have(); got != 2 {
		t.Fatalf("Have %d", got)
	}
}
