package upload

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cunbo/cunbo/firmware/atomicfile"
)

// KeyFile is the box's private key in its state directory.
const KeyFile = "box.key"

// LoadOrCreateKey reads the box's ed25519 key from dir/box.key, making one
// on first start. The file holds the 32-byte seed in hex (mode 0600,
// written atomically), so a power cut during the first start leaves no key
// or a whole one, never half of one that would lock the box out.
func LoadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, KeyFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return parseKey(data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("upload: box key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("upload: box key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("upload: box key: %w", err)
	}
	if err := atomicfile.WriteFile(path, []byte(hex.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("upload: box key: %w", err)
	}
	return priv, nil
}

func parseKey(data []byte) (ed25519.PrivateKey, error) {
	seed, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(seed) != ed25519.SeedSize {
		// Never replace it: the box is enrolled under this key, and a new
		// one would silently cut it off from the review service.
		return nil, fmt.Errorf("upload: box key is damaged (want %d bytes of hex)", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// BoxID is the box's id as the review service knows it: the hex of the
// first 16 bytes of SHA-256(public key).
func BoxID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}
