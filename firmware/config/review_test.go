package config

import (
	"strings"
	"testing"
)

func TestReviewURL(t *testing.T) {
	for _, tc := range []struct {
		toml, want string
		problem    bool
	}{
		{"", "", false},
		{"[review]\nurl = \"https://review.example.org/\"\n", "https://review.example.org/", false},
		{"[review]\nurl = \"http://192.168.1.20:8090\"\n", "http://192.168.1.20:8090", false},
		{"[review]\nurl = \"review.example.org\"\n", "", true},
		{"[review]\nurl = \"ftp://review.example.org/\"\n", "", true},
	} {
		c, warns, err := Parse([]byte("device_id = \"leishan-honey-01\"\n"+tc.toml), "cunbo.toml")
		if err != nil {
			t.Fatalf("%q: %v", tc.toml, err)
		}
		var problem bool
		for _, w := range warns {
			if w.Key == "review.url" {
				problem = true
				if !strings.Contains(w.Msg, "http://") {
					t.Errorf("%q: message %q does not say what to write", tc.toml, w.Msg)
				}
			}
		}
		if c.Review.URL != tc.want || problem != tc.problem {
			t.Errorf("%q: url %q (problem %v), want %q (%v)", tc.toml, c.Review.URL, problem, tc.want, tc.problem)
		}
	}
}
