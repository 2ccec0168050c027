package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/console"
)

// serve's trainer key: the files `provision trainer` writes are taken as
// they are; a key that cannot sign stops the start, with the reason.
func TestServeTrainerKey(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	pass := p("pass")
	if err := os.WriteFile(pass, []byte("榕江 县 培训 2026 口令\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"provision", "init", "--out", p("root"), "--passphrase-file", pass},
		{"provision", "init", "--out", p("root2"), "--passphrase-file", pass},
		{"provision", "trainer", "--root", p("root"), "--name", "杨老师", "--out", p("yang"), "--passphrase-file", pass},
	} {
		if code, _, errOut := run(t, args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
	}
	key := p("yang/trainer.key")
	for _, tc := range []struct {
		name                  string
		key, cert, root, revs string
		want                  string // "" signs, "none" no signing
	}{
		{"no key", "", "", "", "", "none"},
		{"a certificate without a key", "", p("yang/trainer.cert"), "", "", "need --trainer-key"},
		{"the trainer's folder", key, "", "", "", ""},
		{"another organisation's root", key, "", p("root2/root.pub"), "", "signature does not match"},
		{"a revocation list that is not one", key, "", "", p("pass"), "pass"},
		{"no such key", p("nobody/trainer.key"), "", "", "", "no such file"},
	} {
		s, err := loadSigning(tc.key, tc.cert, tc.root, tc.revs)
		switch {
		case tc.want == "none" && (s != nil || err != nil):
			t.Errorf("%s: %v %v, want no signing", tc.name, s, err)
		case tc.want == "" && (err != nil || console.CheckSigning(s, time.Now()) != nil):
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && tc.want != "none" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// serve refuses to start with a key that cannot sign, before listening.
	code, _, errOut := run(t, "serve", "--data", p("data"), "--listen", "127.0.0.1:0", "--trainer-key", key, "--root-pub", p("root2/root.pub"))
	if code != 1 || !strings.Contains(errOut, "trainer key") {
		t.Errorf("serve with a foreign root: %d %s", code, errOut)
	}
}
