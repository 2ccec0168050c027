package bundle

import (
	"fmt"
	"strings"
)

// PIN rules (the box's config and the bundles a trainer's page makes): the
// phone page's PIN is all that keeps a stranger on the same
// Wi-Fi from ending a show, so it is at least 6 digits and never one that
// is printed in documentation or easy to guess.
const (
	MinPINDigits = 6
	MaxPINDigits = 8
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
