package heartbeat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cunbo/cunbo/internal/childproc"
)

// Sys is what the box reads about its own machine. Each reading may be
// unknown (ok false): a PC has no vcgencmd, a container may have no
// thermal zone, and the service is told "unknown", never a made-up zero.
type Sys interface {
	Uptime() (time.Duration, bool)
	// TempC is the SoC's temperature in °C.
	TempC() (float64, bool)
	// Throttled reports whether the SoC is throttled or capped now, and
	// whether it was since boot (under-voltage included).
	Throttled(ctx context.Context) (now, sinceBoot, ok bool)
	// Disk is the free and total bytes of the filesystem holding path.
	Disk(path string) (free, total uint64, err error)
}

// Linux reads a Raspberry Pi (or any Linux) under Root ("" is "/"):
// /proc/uptime, /sys/class/thermal/thermal_zone0/temp and
// `vcgencmd get_throttled` when it is installed.
type Linux struct {
	Root string
	// Vcgencmd is the command's path; "" looks it up on PATH.
	Vcgencmd string
}

func (l Linux) path(p string) string { return filepath.Join(cmpOr(l.Root, "/"), p) }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Uptime reads /proc/uptime.
func (l Linux) Uptime() (time.Duration, bool) {
	b, err := os.ReadFile(l.path("proc/uptime"))
	if err != nil {
		return 0, false
	}
	return parseUptime(string(b))
}

func parseUptime(s string) (time.Duration, bool) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, false
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil || secs < 0 || secs > 1e9 {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// TempC reads thermal zone 0 (millidegrees).
func (l Linux) TempC() (float64, bool) {
	b, err := os.ReadFile(l.path("sys/class/thermal/thermal_zone0/temp"))
	if err != nil {
		return 0, false
	}
	return parseTemp(string(b))
}

func parseTemp(s string) (float64, bool) {
	m, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	// Outside -50..150 °C is a sensor not wired, not a temperature.
	if err != nil || m < -50_000 || m > 150_000 {
		return 0, false
	}
	return float64(m) / 1000, true
}

// vcgencmdTimeout bounds the firmware query; it answers in milliseconds
// unless the VideoCore is wedged, and then the heartbeat goes without it.
const vcgencmdTimeout = 5 * time.Second

// Throttled asks `vcgencmd get_throttled`.
func (l Linux) Throttled(ctx context.Context) (now, sinceBoot, ok bool) {
	cmd := l.Vcgencmd
	if cmd == "" {
		p, err := exec.LookPath("vcgencmd")
		if err != nil {
			return false, false, false
		}
		cmd = p
	}
	ctx, cancel := context.WithTimeout(ctx, vcgencmdTimeout)
	defer cancel()
	var out bytes.Buffer
	c := exec.CommandContext(ctx, cmd, "get_throttled")
	c.Stdout = &out
	if err := childproc.Run(c); err != nil {
		return false, false, false
	}
	return ParseThrottled(out.String())
}

// ParseThrottled reads vcgencmd's "throttled=0x50005". Bits 0–3 are now
// (under-voltage, frequency capped, throttled, soft temperature limit),
// bits 16–19 the same since boot.
func ParseThrottled(s string) (now, sinceBoot, ok bool) {
	v, found := strings.CutPrefix(strings.TrimSpace(s), "throttled=")
	if !found {
		return false, false, false
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(v), "0x"), 16, 32)
	if err != nil {
		return false, false, false
	}
	return n&0xf != 0, n&0xf0000 != 0, true
}

// Disk is statfs of path: the bytes an unprivileged writer may use.
func (Linux) Disk(path string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("heartbeat: disk of %s: %w", path, err)
	}
	if st.Blocks == 0 {
		return 0, 0, errors.New("heartbeat: disk of " + path + ": no blocks")
	}
	bs := uint64(st.Bsize)
	return st.Bavail * bs, st.Blocks * bs, nil
}

// SoftwareVersion is the box software's version from its build: the
// module version of a release, else "devel" with the commit.
func SoftwareVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 7 {
			return "devel-" + s.Value[:7]
		}
	}
	return "devel"
}
