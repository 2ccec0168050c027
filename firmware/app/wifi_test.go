package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/provision"
	"github.com/cunbo/cunbo/firmware/wifi"
)

// A bundle's Wi-Fi networks reach NetworkManager (the fake) at the box's
// next start, each as cunbo-<ssid> in the trainer's order, once: the
// start after does not write them again (that would drop the link).
func TestBundleWiFiWrittenOnceAtStart(t *testing.T) {
	o := newTrainerOrg(t)
	stateDir, stick := t.TempDir(), t.TempDir()
	a, prov := provisionedBox(t, stateDir, stick)
	box := prov.Key.Public().(ed25519.PublicKey)
	var buf bytes.Buffer
	err := bundle.Build(&buf, bundle.Contents{Config: []byte("device_id = \"box-wifi\"\n")}, bundle.Options{
		Version: 3, Created: time.Now().Add(-time.Minute), Expires: time.Now().AddDate(0, 0, 30),
		Boxes: []bundle.Box{{Key: box, Secrets: bundle.Secrets{WiFi: []bundle.WiFi{
			{SSID: "合作社", Password: "coop-pw-2026"}, {SSID: "阿秀家", Password: "xiu-home-pw"}}}}},
		Signer: bundle.Signer{Key: o.trainer, Cert: o.cert}, Root: o.root.Public().(ed25519.PublicKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	o.putOnStick(t, stick, "阿秀.cunbo", buf.Bytes())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.Run(ctx, nil); !errors.Is(err, app.ErrRestart) {
		t.Fatalf("Run: %v, want ErrRestart", err)
	}

	fake := &wifi.Fake{Wired: true}
	// Each start is its own box, stopped when its subtest ends: two boxes
	// on one state folder at once tidy each other's files away (a process
	// a systemd unit never has).
	start := func(t *testing.T) {
		p, _, _, err := app.OpenProvisioning(stateDir, provision.DirStick{}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		p.WiFi = app.NewWiFi(fake, p.Key, stateDir, testLogger(t))
		runApp(t, boxWith(t, stateDir, p))
	}
	t.Run("first start", func(t *testing.T) {
		start(t)
		waitUntil(t, 30*time.Second, "the bundle's networks written", func() bool {
			_, ok := fake.Saved("cunbo-阿秀家")
			return ok
		})
		for name, want := range map[string]wifi.Network{
			"cunbo-合作社": {SSID: "合作社", PSK: "coop-pw-2026", Priority: wifi.BundlePriority},
			"cunbo-阿秀家": {SSID: "阿秀家", PSK: "xiu-home-pw", Priority: wifi.BundlePriority - 1},
		} {
			if got, ok := fake.Saved(name); !ok || got != want {
				t.Errorf("%s = %+v %v, want %+v", name, got, ok, want)
			}
		}
	})
	count := func(prefix string) int {
		return len(slices.DeleteFunc(fake.Calls(), func(c string) bool { return !strings.HasPrefix(c, prefix) }))
	}
	before, checks := count("put "), count("connectivity")
	t.Run("next start", func(t *testing.T) {
		start(t)
		// The keeper's first look comes after the networks' turn.
		waitUntil(t, 30*time.Second, "the hotspot keeper running", func() bool { return count("connectivity") > checks })
		if n := count("put "); n != before {
			t.Fatalf("the networks were written again: %d writes, before %d", n, before)
		}
	})
}
