package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/firmware/provision"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/server"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
)

// simBundle is setup version n for the box with key box: a configuration
// publishing to dest with the stream key sealed to the box, a PIN, and a
// one-card catalogue.
func simBundle(t *testing.T, box ed25519.PublicKey, n uint64, dest, key, product string) (root ed25519.PublicKey, b []byte) {
	t.Helper()
	seed := func(name string) ed25519.PrivateKey {
		s := sha256.Sum256([]byte("sim provision test: " + name))
		return ed25519.NewKeyFromSeed(s[:])
	}
	rootKey, trainer := seed("root"), seed("trainer")
	cert, err := bundle.IssueCertificate(rootKey, bundle.Trainer{Serial: 1, Name: "王老师",
		Key:       bundle.PublicKeyHex(trainer.Public().(ed25519.PublicKey)),
		NotBefore: time.Now().AddDate(0, -1, 0), NotAfter: time.Now().AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := "device_id = \"box-a\"\n[[destination]]\nname = \"douyin\"\nkind = \"rtmp\"\nurl = \"" + dest + "\"\n"
	var buf bytes.Buffer
	err = bundle.Build(&buf, bundle.Contents{
		Config:    []byte(cfg),
		Catalogue: map[string][]byte{"商品.csv": []byte("名称,价格,链接号\n" + product + ",68,3\n")},
	}, bundle.Options{
		Version: n, Created: time.Now().Add(-time.Minute), Expires: time.Now().AddDate(0, 0, 30),
		Boxes:  []bundle.Box{{Key: box, Secrets: bundle.Secrets{PIN: "730146", StreamKeys: map[string]string{"douyin": key}}}},
		Signer: bundle.Signer{Key: trainer, Cert: cert}, Root: rootKey.Public().(ed25519.PublicKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	return rootKey.Public().(ed25519.PublicKey), buf.Bytes()
}

// `cunbo sim --stick DIR` takes a bundle put in the folder while it runs
// idle, rebuilds itself from the bundle's configuration in the same
// process, says so in one line, and then is the box the bundle describes:
// its PIN, its catalogue, its destination with the sealed stream key.
func TestSimStickBundleRebuildsTheBox(t *testing.T) {
	ngx := rtmptest.New(t)
	dataDir, stick := t.TempDir(), t.TempDir()
	key, err := upload.LoadOrCreateKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	dest := strings.TrimSuffix(ngx.URL("k9"), "/k9")
	root, b := simBundle(t, key.Public().(ed25519.PublicKey), 1, dest, "k9", "榕江小香鸡")

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	keysR, keysW := io.Pipe()
	defer keysW.Close()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runSim(ctx, []string{"--http", "127.0.0.1:0", "--stick", stick, "--preview", "", "--portrait",
			"--data", dataDir}, keysR, &stdout, &stderr)
	}()
	urlRe := regexp.MustCompile(`手机页面 \(phone page\): (\S+)\n密码 \(PIN\): (\d+)`)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case code := <-done:
				t.Fatalf("cunbo sim exited %d before %s\n%s\n%s", code, what, stdout.String(), stderr.String())
			case <-ctx.Done():
				t.Fatalf("no %s\n%s\n%s", what, stdout.String(), stderr.String())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	waitFor("phone page", func() bool { return urlRe.MatchString(stdout.String()) })

	// The trainer's stick, as she puts it in.
	hexRoot := bundle.PublicKeyHex(root) + "\n"
	if err := os.WriteFile(filepath.Join(stick, provision.RootFile), []byte(hexRoot), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stick, "1.cunbo"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("applied line", func() bool { return strings.Contains(stdout.String(), "✅ 新设置已用上 (第 1 版)") })
	waitFor("rebuilt box's phone page", func() bool { return len(urlRe.FindAllString(stdout.String(), -1)) == 2 })
	m := urlRe.FindAllStringSubmatch(stdout.String(), -1)[1]
	base, pin := strings.TrimSuffix(m[1], "/"), m[2]
	if pin != "730146" {
		t.Fatalf("rebuilt box's PIN %s, want the bundle's", pin)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Post(base+"/api/login", "application/json", strings.NewReader(`{"pin":"`+pin+`"}`))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login with the bundle's PIN: %v %v", resp, err)
	}
	resp.Body.Close()
	status := func() web.Status {
		t.Helper()
		resp, err := c.Get(base + "/api/status")
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
	st := status()
	if st.Card == nil || st.Card.Name != "榕江小香鸡" {
		t.Errorf("card %+v, want the bundle's card 榕江小香鸡", st.Card)
	}
	// Confirmed once the rebuilt box is ready; the stick still in must not
	// turn it into a refusal.
	waitFor("version 1 confirmed on the phone page", func() bool {
		su := status().Setup
		return su != nil && su.Version == 1 && su.OutcomeOK && su.Outcome == "✅ 新设置已用上 (第 1 版)"
	})
	time.Sleep(time.Second) // a few looks at the stick
	if su := status().Setup; su == nil || su.Outcome != "✅ 新设置已用上 (第 1 版)" {
		t.Errorf("phone page's setup %q after the stick was looked at again", su.Outcome)
	}

	// The big button: live on the bundle's destination with its sealed key.
	if _, err := keysW.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	waitFor("live", func() bool { return status().State == state.Live })
	time.Sleep(3 * time.Second)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("cunbo sim exited %d\n%s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("cunbo sim did not stop")
	}
	if err := ngx.Stop(); err != nil {
		t.Fatal(err)
	}
	res, err := rtmptest.Probe(ngx.RecordingPath("k9"))
	if err != nil {
		t.Fatalf("nothing recorded under the bundle's stream key: %v\n%s", err, ngx.ErrorLog())
	}
	if v := res.Video(); v == nil || v.CodecName != "h264" {
		t.Errorf("nginx got %+v", res.Streams)
	}
}

// With --review, once a stick brought the organisation's root, the sim
// also takes the bundle the trainer published for it over the network,
// and rebuilds itself again with that one.
func TestSimTakesPublishedBundle(t *testing.T) {
	ctx := context.Background()
	reviewDir := t.TempDir()
	srv, err := server.Open(ctx, server.Config{DataDir: reviewDir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	review := httptest.NewServer(srv.Handler())
	t.Cleanup(review.Close)

	dataDir, stick := t.TempDir(), t.TempDir()
	key, err := upload.LoadOrCreateKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	boxID, err := boxauth.Enroll(ctx, srv.Store(), pub, "雷山 阿秀", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	root, b1 := simBundle(t, pub, 1, "rtmp://127.0.0.1:1/live", "k1", "榕江小香鸡")
	_, b2 := simBundle(t, pub, 2, "rtmp://127.0.0.1:1/live", "k2", "古州香米")
	// Published as the console's 发布 does: the blob, then the row.
	blobs, err := blob.NewFiles(filepath.Join(reviewDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b2)
	bkey := "provision/bundles/sim-2.cunbo"
	if err := blobs.Put(ctx, bkey, bytes.NewReader(b2), int64(len(b2))); err != nil {
		t.Fatal(err)
	}
	if err := srv.Store().PublishBundle(ctx, store.PublishedBundle{Version: 2, BlobKey: bkey, Size: int64(len(b2)),
		SHA256: hex.EncodeToString(sum[:]), Published: time.Now(), Actor: "trainer:test"}, []string{boxID},
		store.AuditEntry{At: time.Now(), Actor: "trainer:test", Action: "bundle.publish", Subject: "sim"}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(ctx, 150*time.Second)
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runSim(ctx, []string{"--http", "127.0.0.1:0", "--stick", stick, "--review", review.URL, "--preview", "",
			"--portrait", "--data", dataDir}, strings.NewReader(""), &stdout, &stderr)
	}()
	wait := func(what string) {
		t.Helper()
		for !strings.Contains(stdout.String(), what) {
			select {
			case code := <-done:
				t.Fatalf("cunbo sim exited %d before %q\n%s\n%s", code, what, stdout.String(), stderr.String())
			case <-ctx.Done():
				t.Fatalf("no %q\n%s\n%s", what, stdout.String(), stderr.String())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	wait("手机页面")
	time.Sleep(time.Second) // published, but the box trusts no root yet: not taken
	if strings.Contains(stdout.String(), "新设置") {
		t.Fatalf("a box trusting no root took a bundle:\n%s", stdout.String())
	}
	if err := os.WriteFile(filepath.Join(stick, provision.RootFile), []byte(bundle.PublicKeyHex(root)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stick, "1.cunbo"), b1, 0o644); err != nil {
		t.Fatal(err)
	}
	wait("✅ 新设置已用上 (第 1 版)")
	wait("✅ 新设置已用上 (第 2 版)")
	if strings.Contains(stdout.String(), "↩️") || strings.Contains(stdout.String(), "❌") {
		t.Errorf("a refusal or rollback on the way:\n%s", stdout.String())
	}
	// The box now in use is version 2's: its card.
	m := regexp.MustCompile(`手机页面 \(phone page\): (\S+)\n密码 \(PIN\): (\d+)`).FindAllStringSubmatch(stdout.String(), -1)
	if len(m) != 3 {
		t.Fatalf("%d phone pages, want 3 (factory, version 1, version 2):\n%s", len(m), stdout.String())
	}
	base := strings.TrimSuffix(m[2][1], "/")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Post(base+"/api/login", "application/json", strings.NewReader(`{"pin":"`+m[2][2]+`"}`))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = c.Get(base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	var st web.Status
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Card == nil || st.Card.Name != "古州香米" {
		t.Errorf("card %+v (%v), want version 2's 古州香米", st.Card, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("cunbo sim exited %d\n%s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("cunbo sim did not stop")
	}
}
