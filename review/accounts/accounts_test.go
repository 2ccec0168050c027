package accounts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/accounts"
)

func TestHashVerify(t *testing.T) {
	h, err := accounts.Hash("正确的密码 horse")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := accounts.Hash("正确的密码 horse")
	if h == h2 || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hashes %q %q: want a fresh salt each time and argon2id", h, h2)
	}
	tests := []struct {
		hash, pw string
		ok       bool
		bad      bool
	}{
		{h, "正确的密码 horse", true, false},
		{h, "正确的密码 horsf", false, false},
		{h, "", false, false},
		{"", "x", false, true},
		{"$2a$10$abcdefghijklmnopqrstuv", "x", false, true},
		{strings.Replace(h, "m=19456", "m=0", 1), "x", false, true},
		{strings.Replace(h, "t=2", "t=99", 1), "x", false, true},
		{strings.Replace(h, "m=19456", "m=2097152", 1), "x", false, true},
		{h[:len(h)-30], "正确的密码 horse", false, true},
	}
	for _, tc := range tests {
		ok, err := accounts.Verify(tc.hash, tc.pw)
		if ok != tc.ok || (err != nil) != tc.bad {
			t.Errorf("Verify(%q, %q) = %v, %v; want %v, bad hash %v", tc.hash, tc.pw, ok, err, tc.ok, tc.bad)
		}
	}
}

func FuzzVerify(f *testing.F) {
	h, _ := accounts.Hash("pw")
	f.Add(h, "pw")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		ok, err := accounts.Verify(hash, pw)
		if ok && err != nil {
			t.Fatal("ok with an error")
		}
	})
}

func TestNewPassword(t *testing.T) {
	p := accounts.NewPassword()
	if len(p) != 19 || accounts.CheckPassword(p) != nil || strings.ContainsAny(p, "0O1lI") {
		t.Fatalf("generated %q", p)
	}
	if p == accounts.NewPassword() {
		t.Fatal("same password twice")
	}
	if accounts.CheckPassword("短") == nil {
		t.Fatal("short password accepted")
	}
}

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	th := accounts.NewThrottle(3, time.Minute)
	for i := range 3 {
		if ok, _ := th.Allowed("a", now); !ok {
			t.Fatalf("try %d refused", i)
		}
		th.Fail("a", now.Add(time.Duration(i)*time.Second))
	}
	if ok, wait := th.Allowed("a", now.Add(10*time.Second)); ok || wait != 50*time.Second {
		t.Fatalf("4th try: %v, wait %v; want refused for 50 s", ok, wait)
	}
	if ok, _ := th.Allowed("b", now); !ok {
		t.Fatal("another key refused")
	}
	if ok, _ := th.Allowed("a", now.Add(time.Minute)); !ok {
		t.Fatal("refused after the window")
	}
	th.Succeed("a")
	if ok, _ := th.Allowed("a", now.Add(10*time.Second)); !ok {
		t.Fatal("refused after a success")
	}
}
