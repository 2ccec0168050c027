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

	"github.com/cunbo/cunbo/firmware/atomicfile"
)

// PIN rules: the phone page's PIN is all that keeps a stranger on the same
// Wi-Fi from ending a show, so it is at least 6 digits and never one that
// is printed in documentation or easy to guess.
const (
	MinPINDigits = 6
	MaxPINDigits = 8
	// PINFile, in state_dir, holds the box's own PIN when the config sets
	// none; the trainer copies it onto the box's label.
	PINFile = "pin"
	// pinFileMode lets root (the trainer, with sudo) and the service's
	// group read it, nobody else.
	pinFileMode = 0o640
)

// knownPINs are printed in this project's documentation and examples.
var knownPINs = []string{"2468", "246813", "246810", "518204"}

// CheckPIN says in plain Chinese what is wrong with a PIN, or "" when it
// is acceptable.
func CheckPIN(pin string) string {
	for _, k := range knownPINs {
		if pin == k {
			return fmt.Sprintf("密码 %s 印在说明书和示例里，谁都知道，不能用", pin)
		}
	}
	if len(pin) < MinPINDigits || len(pin) > MaxPINDigits || strings.Trim(pin, "0123456789") != "" {
		return fmt.Sprintf("密码要写 %d 到 %d 个数字，并用英文引号括起来", MinPINDigits, MaxPINDigits)
	}
	if weakPIN(pin) {
		return fmt.Sprintf("密码 %s 太容易猜（同一个数字或连着的数字），请换一个", pin)
	}
	return ""
}

// weakPIN: one digit repeated, or a run up or down (123456, 987654).
func weakPIN(pin string) bool {
	up, down, same := true, true, true
	for i := 1; i < len(pin); i++ {
		d := int(pin[i]) - int(pin[i-1])
		up = up && (d == 1 || d == -9)
		down = down && (d == -1 || d == 9)
		same = same && d == 0
	}
	return up || down || same
}

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
		if p := strings.TrimSpace(string(b)); CheckPIN(p) == "" {
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
		if pin := fmt.Sprintf("%06d", n.Int64()); CheckPIN(pin) == "" {
			return pin, nil
		}
	}
}
