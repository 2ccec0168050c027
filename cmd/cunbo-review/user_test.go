package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// userAddStdin runs `user add` with stdin.
func userAddStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := userAdd(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// The first admin and a social worker are made on the command line, a box
// is put in her caseload, and both sign in to the served console.
func TestUserAddAndAssign(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := run(t, "user", "add", "--data", data, "--role", "admin", "管理员")
	_, pw, ok := strings.Cut(out, "password: ")
	pw = strings.TrimSpace(pw)
	if code != 0 || !ok || len(pw) != 19 {
		t.Fatalf("user add (generated password): %d %q %s", code, out, errOut)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		err   string
	}{
		{"password from stdin", "sanjiang-2026-pw\n", []string{"--password-stdin", "--role", "social,trainer", "王芳"}, 0, ""},
		{"same name again", "sanjiang-2026-pw\n", []string{"--password-stdin", "--role", "social", "王芳"}, 1, "already exists"},
		{"short password", "short\n", []string{"--password-stdin", "--role", "social", "李梅"}, 2, "密码太短"},
		{"no role", "", []string{"李梅"}, 2, "--role"},
		{"unknown role", "", []string{"--role", "boss", "李梅"}, 2, "unknown role"},
		{"no name", "", []string{"--role", "social"}, 2, "want 1 argument"},
		{"trainer", "", []string{"--role", "trainer", "培训员"}, 0, ""},
	}
	for _, tc := range tests {
		code, _, errOut := userAddStdin(t, tc.stdin, append([]string{"--data", data}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.err) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, errOut, tc.code, tc.err)
		}
	}

	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	code, out, errOut = run(t, "box", "add", "--data", data, "--key-hex", hex.EncodeToString(pub), "--name", "村A")
	box := strings.TrimSpace(out)
	if code != 0 {
		t.Fatalf("box add: %d %s", code, errOut)
	}
	assigns := []struct {
		box, user string
		code      int
		err       string
	}{
		{box, "王芳", 0, ""},
		{box, "培训员", 1, "not a social worker"},
		{box, "nobody", 1, "no user"},
		{"0123456789abcdef0123456789abcdef", "王芳", 1, "no box"},
	}
	for _, a := range assigns {
		if code, _, errOut := run(t, "box", "assign", "--data", data, a.box, a.user); code != a.code || !strings.Contains(errOut, a.err) {
			t.Errorf("box assign %s %s: %d %q, want %d %q", a.box, a.user, code, errOut, a.code, a.err)
		}
	}

	base, _, _ := serve(t, "--data", data)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, login := range []struct{ name, pw string }{{"管理员", pw}, {"王芳", "sanjiang-2026-pw"}} {
		resp, err := c.PostForm(base+"/console/login", url.Values{"name": {login.name}, "password": {login.pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
			t.Errorf("sign in as %s: %d %q", login.name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}
