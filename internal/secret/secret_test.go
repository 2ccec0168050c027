package secret

import (
	"strings"
	"testing"
)

func TestKey(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": Mask, "live_8812_sk-9f3a7c21": Mask, "键值密码": Mask} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rtmp://push.example.com/live/sk-9f3a7c21", "rtmp://push.example.com/live/****"},
		{"rtmps://h:443/third/stream-9?expire=1&sign=x", "rtmps://h:443/third/****"},
		{"rtmp://h/app/a/b", "rtmp://h/app/****"},
		{"rtmp://h/app", "rtmp://h/app"},
		{"rtmp://user:pa55@h/app", "rtmp://h/app/****"},
		{"https://whip.example.com/whip/endpoint/k3y", "https://whip.example.com/****"},
		{"https://whip.example.com/?token=k3y", "https://whip.example.com/****"},
		{"https://whip.example.com", "https://whip.example.com"},
		{"not a url sk-9f3a7c21", Mask},
		{"rtmp:sk-9f3a7c21", Mask},
		{"%zz/sk-9f3a7c21", Mask},
		{"", Mask},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScrub(t *testing.T) {
	u := "rtmp://push.example.com/live/sk-9f3a7c21?sign=abc"
	err := `dial rtmp://push.example.com/live/sk-9f3a7c21?sign=abc: refused; publish "sk-9f3a7c21?sign=abc" failed; path sk-9f3a7c21%3Fsign=abc`
	got := Scrub(err, u, "sk-9f3a7c21?sign=abc", "")
	for _, leak := range []string{"sk-9f3a7c21", "sign=abc", "7c21"} {
		if strings.Contains(got, leak) {
			t.Fatalf("Scrub left %q in %q", leak, got)
		}
	}
	if !strings.Contains(got, "rtmp://push.example.com/live/****") {
		t.Fatalf("Scrub lost where the stream goes: %q", got)
	}
}

// FuzzURL: whatever the address, a key of 6 or more characters in its
// key position never shows, and the result never contains a key that is
// not also part of the host or app.
func FuzzURL(f *testing.F) {
	f.Add("rtmp", "push.example.com", "live", "sk-9f3a7c21", "")
	f.Add("rtmps", "h:443", "third", "stream-9", "expire=1&sign=x")
	f.Add("https", "whip.example.com", "whip", "k3y/more", "")
	f.Fuzz(func(t *testing.T, scheme, host, app, key, query string) {
		// What is meant to show (scheme://host/app, as written or as
		// url.Parse lowercases the scheme) may hold the key's characters
		// by chance ("/00000" after the host "00000"): not a leak.
		shown := scheme + "://" + host + "/" + app
		if len(key) < 6 || strings.Contains(shown, key) || strings.Contains(strings.ToLower(shown), key) {
			return
		}
		raw := scheme + "://" + host + "/" + app + "/" + key
		if query != "" {
			raw += "?" + query
		}
		got := URL(raw)
		if strings.Contains(got, key) {
			t.Fatalf("URL(%q) = %q shows the key", raw, got)
		}
		if got := Key(key); got != Mask {
			t.Fatalf("Key = %q", got)
		}
	})
}
