package console

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// A reason for handing a moment on is one clean line or refused: never
// empty, never over MaxReason characters, no control characters, trimmed.
func FuzzCleanLine(f *testing.F) {
	for _, s := range []string{"她说的是药效，我拿不准", "  a  ", "a\nb", "a\x00b", "\xff", strings.Repeat("药", 101), "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := cleanLine(s, MaxReason)
		if !ok {
			return
		}
		if got == "" || got != strings.TrimSpace(got) || !utf8.ValidString(got) || utf8.RuneCountInString(got) > MaxReason ||
			strings.ContainsFunc(got, unicode.IsControl) || !strings.Contains(s, got) {
			t.Fatalf("cleanLine(%q) = %q", s, got)
		}
	})
}
