package config

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/firmware/atomicfile"
)

const (
	// PINFile, in state_dir, holds the box's own PIN when the config sets
	// none; the trainer copies it onto the box's label.
	PINFile = "pin"
	// pinFileMode lets root (the trainer, with sudo) and the service's
	// group read it, nobody else.
	pinFileMode = 0o640
)

// BoxPIN returns the PIN of the phone page: the config's, or this box's
// own, made at random on its first start and kept in state_dir/pin, so no
// two boxes share one and none ships with a known PIN. created reports a
// new one (log it once: the trainer writes it on the label).
func BoxPIN(c *Config) (pin string, created bool, err error) {
	if c.PIN != "" {
		return c.PIN, false, nil
	}
	path := filepath.Join(c.StateDir, PINFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if p := strings.TrimSpace(string(b)); bundle.CheckPIN(p) == "" {
			return p, false, nil
		}
		// Damaged (a cut power during a hand edit): a new one is safer
		// than a box nobody can log in to, and it is logged.
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("config: reading the box's PIN: %w", err)
	}
	pin, err = RandomPIN()
	if err != nil {
		return "", false, err
	}
	if err := atomicfile.WriteFile(path, []byte(pin+"\n"), pinFileMode); err != nil {
		return "", false, fmt.Errorf("config: saving the box's PIN: %w", err)
	}
	return pin, true, nil
}

// RandomPIN draws a 6-digit PIN from the system's random source, never a
// known or easily guessed one.
func RandomPIN() (string, error) {
	for {
		n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
		if err != nil {
			return "", fmt.Errorf("config: random PIN: %w", err)
		}
		if pin := fmt.Sprintf("%06d", n.Int64()); bundle.CheckPIN(pin) == "" {
			return pin, nil
		}
	}
}
