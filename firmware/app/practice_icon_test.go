package app

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitIcon(t *testing.T) {
	tests := []struct{ name, icon, rest string }{
		{"🍯 卖蜂蜜", "🍯", "卖蜂蜜"},
		{"🌶️卖辣椒酱", "🌶️", "卖辣椒酱"},
		{"👩🏽‍🌾 种茶的姐妹", "👩🏽‍🌾", "种茶的姐妹"},
		{"榕江特产 · 第一课", "", "榕江特产 · 第一课"},
		{"🍯", "", "🍯"},
		{"", "", ""},
	}
	for _, tt := range tests {
		if icon, rest := splitIcon(tt.name); icon != tt.icon || rest != tt.rest {
			t.Errorf("splitIcon(%q) = %q, %q; want %q, %q", tt.name, icon, rest, tt.icon, tt.rest)
		}
	}
}

// Whatever a trainer names a scenario, her button shows all of its words:
// the icon and the rest are the name, and the rest is never empty.
func FuzzSplitIcon(f *testing.F) {
	for _, s := range []string{"🍯 卖蜂蜜", "🌶️卖辣椒酱", "榕江特产", "🍯", "\u200d", "1️⃣ 第一课"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		icon, rest := splitIcon(name)
		if icon == "" {
			if rest != name {
				t.Fatalf("no icon, rest %q, want the name %q", rest, name)
			}
			return
		}
		if rest == "" || !strings.HasPrefix(name, icon) || strings.TrimSpace(name[len(icon):]) != rest {
			t.Fatalf("splitIcon(%q) = %q, %q", name, icon, rest)
		}
		if utf8.ValidString(name) && (!utf8.ValidString(icon) || !utf8.ValidString(rest)) {
			t.Fatalf("splitIcon(%q) cut a character: %q, %q", name, icon, rest)
		}
	})
}
