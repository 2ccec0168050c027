package bundle

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
)

func TestParseEnrolText(t *testing.T) {
	pub := ed25519.PublicKey(bytes.Repeat([]byte{0xab}, ed25519.PublicKeySize))
	hexKey := PublicKeyHex(pub)
	spaced := strings.ToUpper(hexKey[:16] + " " + hexKey[16:32] + "-" + hexKey[32:])
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"the QR text", EnrolText(pub), true},
		{"hex alone", hexKey, true},
		{"typed in capitals with spaces and dashes", spaced, true},
		{"QR text with a newline after a scan", EnrolText(pub) + "\n", true},
		{"too short", hexKey[:62], false},
		{"another prefix", "other-box:" + hexKey, false},
		{"not hex", strings.Repeat("zz", ed25519.PublicKeySize), false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEnrolText(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseEnrolText(%q): err %v, want ok=%v", tc.in, err, tc.ok)
			}
			if tc.ok && !got.Equal(pub) {
				t.Fatalf("ParseEnrolText(%q) = %x", tc.in, got)
			}
		})
	}
}
