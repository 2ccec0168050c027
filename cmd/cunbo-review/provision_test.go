package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
)

// TestProvisionWorkshop runs the trainer's command line the way a scripted
// workshop does: a root, a trainer, a bundle for two boxes that each open
// it (and their secrets) with their own key, then the trainer revoked.
func TestProvisionWorkshop(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	write := func(name, data string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p(name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p(name)
	}
	pass := write("pass", "榕江 县 培训 2026 口令\n")
	write("wrong", "not the passphrase\n")

	code, out, errOut := run(t, "provision", "init", "--out", p("root"), "--passphrase-file", pass)
	if code != 0 {
		t.Fatalf("init: %d %s", code, errOut)
	}
	rootPub, err := readPublicKeyFile(p("root/root.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, bundle.Fingerprint(rootPub)) {
		t.Errorf("init printed %q, not the root fingerprint %s", out, bundle.Fingerprint(rootPub))
	}
	sealed, _ := os.ReadFile(p("root/root.key.age"))
	if !bytes.HasPrefix(sealed, []byte("age-encryption.org/v1\n-> scrypt ")) {
		t.Errorf("root key file is not age scrypt: %.60q", sealed)
	}
	if st, _ := os.Stat(p("root/root.key.age")); st.Mode().Perm() != 0o600 {
		t.Errorf("root key mode %v", st.Mode())
	}
	if code, _, errOut := run(t, "provision", "init", "--out", p("root"), "--passphrase-file", pass); code == 0 {
		t.Errorf("init over an existing root succeeded: %s", errOut)
	}
	if code, _, _ := run(t, "provision", "init", "--out", p("root2"), "--passphrase-file", write("short", "short\n")); code == 0 {
		t.Error("init took a 5-character passphrase")
	}

	code, _, errOut = run(t, "provision", "trainer", "--root", p("root"), "--name", "王老师", "--out", p("wang"), "--passphrase-file", p("wrong"))
	if code != 1 || !strings.Contains(errOut, "wrong passphrase") {
		t.Errorf("trainer with the wrong passphrase: %d %s", code, errOut)
	}
	code, out, errOut = run(t, "provision", "trainer", "--root", p("root"), "--name", "王老师", "--out", p("wang"), "--passphrase-file", pass)
	if code != 0 {
		t.Fatalf("trainer: %d %s", code, errOut)
	}
	serial := regexp.MustCompile(`serial\): (\d+)`).FindStringSubmatch(out)
	if serial == nil {
		t.Fatalf("trainer printed no serial: %q", out)
	}

	write("config.toml", "[stream]\nurl = \"rtmp://push.example/live\"\n")
	write("cat/catalogue.csv", "名称,价格\n辣椒酱,29.9\n")
	write("cat/photos/辣椒酱.jpg", "\xff\xd8jpeg")
	write("rules/pack.toml", "version = 3\n")
	write("secrets.json", `{"wifi":[{"ssid":"阿妹家","password":"wifi-secret-1"}],"stream_keys":{"douyin":"stream-secret-2"},"pin":"518204"}`)
	boxA, boxB := newBoxKey(t), newBoxKey(t)
	write("boxB.pub", hex.EncodeToString(pub(boxB))+"\n")
	modelSum := strings.Repeat("ab", 32)
	bundleArgs := []string{"provision", "bundle", "--root-pub", p("wang/root.pub"), "--trainer-key", p("wang/trainer.key"),
		"--box", hex.EncodeToString(pub(boxA)), "--box", p("boxB.pub"),
		"--config", p("config.toml"), "--catalogue", p("cat"), "--rules", p("rules"), "--secrets", p("secrets.json"),
		"--model-name", "zipformer-zh-small", "--model-sha256", modelSum, "--version", "42",
		"--revocations", p("root/revocations.json")}
	code, out, errOut = run(t, append(bundleArgs, "--out", p("a.cunbo"))...)
	if code != 0 {
		t.Fatalf("bundle: %d %s", code, errOut)
	}
	if !strings.Contains(out, bundle.Fingerprint(pub(boxB))) {
		t.Errorf("bundle output %q lacks box B's fingerprint", out)
	}
	data, err := os.ReadFile(p("a.cunbo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"wifi-secret-1", "stream-secret-2", "518204"} {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("the bundle file holds %q in the clear", s)
		}
	}
	trust := bundle.Trust{Root: rootPub}
	for name, box := range map[string]ed25519.PrivateKey{"A": boxA, "B": boxB} {
		v, err := bundle.Open(bytes.NewReader(data), int64(len(data)), trust, pub(box), 41, time.Now())
		if err != nil {
			t.Fatalf("box %s: %v", name, err)
		}
		if string(v.Config()) != "[stream]\nurl = \"rtmp://push.example/live\"\n" ||
			string(v.Catalogue()["photos/辣椒酱.jpg"]) != "\xff\xd8jpeg" || string(v.Rules()["pack.toml"]) != "version = 3\n" ||
			v.Manifest.Model.SHA256 != modelSum || v.Trainer.Name != "王老师" {
			t.Errorf("box %s: contents %q %v %v %+v", name, v.Config(), v.Catalogue(), v.Rules(), v.Manifest.Model)
		}
		s, err := v.Secrets(box)
		if err != nil || s.PIN != "518204" || s.WiFi[0].Password != "wifi-secret-1" || s.StreamKeys["douyin"] != "stream-secret-2" {
			t.Errorf("box %s: secrets %+v, %v", name, s, err)
		}
	}
	if _, err := bundle.Open(bytes.NewReader(data), int64(len(data)), trust, pub(newBoxKey(t)), 0, time.Now()); !errors.Is(err, bundle.NotForBox) {
		t.Errorf("a third box: %v, want NotForBox", err)
	}

	// Practice scenarios: a scripted answer the rules flag, or a line that
	// does not parse, is said by file and line and no bundle is written; a
	// clean set is listed and travels in the bundle.
	write("scn-bad/1.txt", "scenario 坏例子\nversion 1\n3 | 王姐 | - | 40 | PRICE | 最便宜吗？ | 我们是全网最低价\n")
	write("scn-bad/2.txt", "scenario 断了\nversion 1\n\n3 | 甲 | - | - | 你好\n")
	code, _, errOut = run(t, append(bundleArgs, "--scenarios", p("scn-bad"), "--version", "43", "--out", p("s.cunbo"))...)
	if code != 1 || !strings.Contains(errOut, "1.txt: 第3行：示范回答里有「全网最低价」，盒子会提醒，请换个说法") ||
		!strings.Contains(errOut, "2.txt: 第4行：要用 | 分成6或7段") {
		t.Errorf("bundle with bad scenarios: %d %s", code, errOut)
	}
	if _, err := os.Stat(p("s.cunbo")); err == nil {
		t.Error("a bundle with bad scenarios was written")
	}
	good := "scenario 辣椒酱\nversion 1\ncard lajiao+5 | 阿英 | lajiao | 30 | - | 多少钱？ | 二十九块九一瓶\n"
	write("scn/辣椒酱.txt", good)
	code, out, errOut = run(t, append(bundleArgs, "--scenarios", p("scn"), "--version", "43", "--out", p("s.cunbo"))...)
	if code != 0 || !strings.Contains(out, "辣椒酱.txt  辣椒酱  1 个问题") || !strings.Contains(errOut, "商品「lajiao」不在商品表里") {
		t.Fatalf("bundle with scenarios: %d %q %s", code, out, errOut)
	}
	sdata, err := os.ReadFile(p("s.cunbo"))
	if err != nil {
		t.Fatal(err)
	}
	sv, err := bundle.Open(bytes.NewReader(sdata), int64(len(sdata)), trust, pub(boxA), 42, time.Now())
	if err != nil {
		t.Fatalf("the bundle with scenarios: %v", err)
	}
	if string(sv.Scenarios()["辣椒酱.txt"]) != good {
		t.Errorf("the bundle's scenarios: %q", sv.Scenarios())
	}

	// Revoked: her next bundle is refused by the tool, and boxes that got
	// the list refuse her old one.
	code, _, errOut = run(t, "provision", "revoke", "--root", p("root"), "--serial", serial[1], "--passphrase-file", pass)
	if code != 0 {
		t.Fatalf("revoke: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, append(bundleArgs, "--out", p("b.cunbo"))...); code != 1 || !strings.Contains(errOut, "revoked") {
		t.Errorf("bundle by a revoked trainer: %d %s", code, errOut)
	}
	if _, err := os.Stat(p("b.cunbo")); err == nil {
		t.Error("a revoked trainer's bundle was written")
	}
	list, err := readRevocations(p("root/revocations.json"), rootPub)
	if err != nil || list.Version != 2 {
		t.Fatalf("revocations %+v, %v", list, err)
	}
	trust.Revocations = &list
	if _, err := bundle.Open(bytes.NewReader(data), int64(len(data)), trust, pub(boxA), 0, time.Now()); !errors.Is(err, bundle.Revoked) {
		t.Errorf("old bundle after revocation: %v, want Revoked", err)
	}
	var cert bundle.Certificate
	raw, _ := os.ReadFile(p("wang/trainer.cert"))
	if err := json.Unmarshal(raw, &cert); err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(rootPub); err != nil {
		t.Errorf("trainer.cert: %v", err)
	}
}

func TestProvisionUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"provision"}, 2},
		{[]string{"provision", "nope"}, 2},
		{[]string{"provision", "init"}, 2},
		{[]string{"provision", "revoke", "--root", "x", "--serial", "1", "--key", strings.Repeat("0", 64)}, 2},
		{[]string{"provision", "bundle", "--config", "x"}, 2},
		{[]string{"provision", "bundle", "--box", "no-such-file"}, 2},
	} {
		if code, _, errOut := run(t, c.args...); code != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.code, errOut)
		}
	}
}

func newBoxKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
