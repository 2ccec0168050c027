package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/cunbo/cunbo/review/wiretest"
)

// segment list shows what arrived, per box, and nothing of what was said.
func TestSegmentList(t *testing.T) {
	data := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	code, out, errOut := run(t, "box", "add", "--data", data, "--key-hex", hex.EncodeToString(pub))
	if code != 0 {
		t.Fatalf("box add: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	if code, out, _ := run(t, "segment", "list", "--data", data); code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("segment list before any upload: %d\n%s", code, out)
	}

	base, stop, log := serve(t, "--data", data)
	c, tok := signIn(t, base, id, priv)
	if c != 200 {
		t.Fatalf("sign in: %d", c)
	}
	segID := wiretest.ID(7)
	if c, _ := upload(t, base, tok, segID, wiretest.SegmentTar(t, segID, wiretest.Clip(t))); c != 204 {
		t.Fatalf("upload: %d\n%s", c, log.String())
	}
	stop()

	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"every box", nil, true},
		{"this box", []string{"--box", id}, true},
		{"another box", []string{"--box", "00000000000000000000000000000000"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, append([]string{"segment", "list", "--data", data}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if got := strings.Contains(out, segID) && strings.Contains(out, id); got != tc.want {
				t.Fatalf("segment %s listed: %v, want %v\n%s", segID, got, tc.want, out)
			}
			if tc.want && !strings.Contains(out, "yes") {
				t.Fatalf("the clip is not shown as received:\n%s", out)
			}
		})
	}
}
