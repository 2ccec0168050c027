package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/firmware/wifi"
)

// `cunbo run --print-key` makes the box's key on first use and prints the
// same public key and box id every time, for cunbo-review box add.
func TestRunPrintKey(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	conf := filepath.Join(t.TempDir(), "cunbo.toml")
	if err := os.WriteFile(conf, []byte("device_id = \"desk-1\"\nstate_dir = \""+state+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for range 2 {
		var stdout, stderr strings.Builder
		if code := dispatch(context.Background(), []string{"run", "--config", conf, "--print-key"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
		outs = append(outs, stdout.String())
	}
	key, err := upload.LoadOrCreateKey(state)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	l := wifi.LabelFor(key)
	want := "公钥 (public key): " + hex.EncodeToString(pub) + "\n盒子编号 (box id): " + upload.BoxID(pub) + "\n" +
		"设置热点 (setup hotspot): " + l.SSID + "  密码 (password): " + l.Password + "\n"
	if outs[0] != want || outs[1] != want {
		t.Fatalf("printed\n%q\n%q\nwant %q", outs[0], outs[1], want)
	}
}
