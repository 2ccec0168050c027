package systemd

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cunbo/cunbo/firmware/app"
)

// udevKey is one KEY{attr}OP"value" of a udev rule (udev(7)).
type udevKey struct{ name, attr, op, value string }

var udevKeyRe = regexp.MustCompile(`^([A-Z_]+)(?:\{([^}]*)\})?(==|!=|\+=|-=|:=|=)"([^"]*)"$`)

// udevMatch and udevAssign are the keys of udev(7) this project uses,
// with whether they take an attribute.
var (
	udevMatch  = map[string]bool{"ACTION": false, "SUBSYSTEM": false, "KERNEL": false, "ENV": true, "ATTRS": true}
	udevAssign = map[string]bool{"RUN": true, "ENV": true, "OPTIONS": false}
)

// parseUdevRules is udev's own reading of a rules file, as far as this
// project needs it: Debian 12's udevadm has no verify (systemd 254+).
func parseUdevRules(text string) ([][]udevKey, error) {
	var rules [][]udevKey
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			return nil, fmt.Errorf("line %d: continued lines are not used here", n+1)
		}
		var rule []udevKey
		parts := strings.Split(line, `", `)
		for i, part := range parts {
			if i < len(parts)-1 {
				part += `"`
			}
			m := udevKeyRe.FindStringSubmatch(part)
			if m == nil {
				return nil, fmt.Errorf("line %d: %q is not KEY{attr}OP\"value\"", n+1, part)
			}
			k := udevKey{m[1], m[2], m[3], m[4]}
			match := k.op == "==" || k.op == "!="
			table := udevAssign
			if match {
				table = udevMatch
			}
			withAttr, ok := table[k.name]
			if !ok {
				return nil, fmt.Errorf("line %d: %s cannot be used with %s", n+1, k.name, k.op)
			}
			if withAttr != (k.attr != "") && !(k.name == "RUN" && k.attr == "") {
				return nil, fmt.Errorf("line %d: %s: attribute %q", n+1, k.name, k.attr)
			}
			rule = append(rule, k)
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

func TestParseUdevRulesRefuses(t *testing.T) {
	for _, bad := range []string{
		`ACTION="add", RUN+="/bin/true"`,            // assignment to a match-only key
		`ACTION=="add" RUN+="/bin/true"`,            // no comma
		`ACTION=="add", RUN{program}+=/bin/true`,    // unquoted
		`ACTION=="add", ENV=="x", RUN+="/bin/true"`, // ENV without its name
		`ACTION=="add", MOUNT+="/bin/true"`,         // no such key
		"ACTION==\"add\", \\\n RUN+=\"/bin/true\"",  // continuation
		`ACTION=="add", RUN{program}+="/bin/true`,   // unterminated
		`action=="add", RUN{program}+="/bin/true"`,  // lower case
	} {
		if _, err := parseUdevRules(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// The stick rule mounts a USB FAT/exFAT filesystem read-only, readable by
// the box's user, where the box looks for setup bundles, with a program
// that exists on the system.
func TestStickRule(t *testing.T) {
	b, err := os.ReadFile("90-cunbo-stick.rules")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := parseUdevRules(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 {
		t.Fatalf("%d rules, want 1", len(rules))
	}
	get := func(name, attr, op string) string {
		i := slices.IndexFunc(rules[0], func(k udevKey) bool { return k.name == name && k.attr == attr && k.op == op })
		if i < 0 {
			t.Fatalf("no %s{%s}%s", name, attr, op)
		}
		return rules[0][i].value
	}
	for _, want := range [][4]string{
		{"ACTION", "", "==", "add"}, {"SUBSYSTEM", "", "==", "block"}, {"ENV", "ID_BUS", "==", "usb"},
		{"ENV", "ID_FS_USAGE", "==", "filesystem"}, {"ENV", "ID_FS_TYPE", "==", "vfat|exfat"},
	} {
		if got := get(want[0], want[1], want[2]); got != want[3] {
			t.Errorf("%s{%s}: %q, want %q", want[0], want[1], got, want[3])
		}
	}
	run := strings.Fields(get("RUN", "program", "+="))
	if _, err := os.Stat(run[0]); err != nil {
		t.Errorf("RUN program: %v", err)
	}
	if run[0] != "/usr/bin/systemd-mount" || !slices.Contains(run, "--no-block") {
		t.Errorf("RUN %q: want systemd-mount --no-block (udev waits for nothing)", run)
	}
	var opts []string
	for _, a := range run {
		if o, ok := strings.CutPrefix(a, "--options="); ok {
			opts = strings.Split(o, ",")
		}
	}
	for _, want := range []string{"ro", "nosuid", "nodev", "noexec", "uid=cunbo", "gid=cunbo"} {
		if !slices.Contains(opts, want) {
			t.Errorf("mount options %q lack %s", opts, want)
		}
	}
	if src, where := run[len(run)-2], run[len(run)-1]; src != "$devnode" || where != app.StickGlobs[0] {
		t.Errorf("mounts %s at %s, want $devnode at %s (app.StickGlobs)", src, where, app.StickGlobs[0])
	}
}
