package provision

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzStoreFiles feeds the store whatever a failing SD card may hold in
// its state and trust files: it must open, never panic, never trust a
// root from a damaged trust file, and Have never drops below current.
func FuzzStoreFiles(f *testing.F) {
	f.Add([]byte(`{"tried":3,"trial":{"version":3,"since":"2026-12-01T09:00:00Z"}}`), []byte(`{"root":"00"}`))
	f.Add([]byte(`{"outcome":{"message":"x","ok":true}}`), []byte(`{"root":"`+
		"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"+`"}`))
	f.Add([]byte("{"), []byte("null"))
	f.Add([]byte(`{"tried":18446744073709551615}`), []byte(`{"root":"zz","revocations":{"version":1}}`))
	f.Fuzz(func(t *testing.T, stateData, trustData []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, StateFile), stateData, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, TrustFile), trustData, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Outcome()
		_ = s.Have()
		if tr, ok, err := s.Trust(); ok && (err != nil || len(tr.Root) != 32) {
			t.Fatalf("trusts %x (%v)", tr.Root, err)
		}
		if _, trial, err := s.Boot(); trial || err != nil {
			t.Fatalf("Boot without a version: trial=%v %v", trial, err)
		}
	})
}
