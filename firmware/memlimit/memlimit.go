// Package memlimit sets the Go runtime's soft memory limit, one rule for
// the box (`cunbo run`) and the simulator (`cunbo sim`).
//
// The limit is a safety net, not a diet. The box's live heap is ~45 MiB
// (the CJK font alone ~20 MiB, encoder frame buffers ~16 MiB) and a burst
// of phone-page connections adds tens of MiB for a while. A limit just
// above that working set (the old fixed 64 MiB) makes the collector run
// back to back once the live heap reaches it: ~96 collections a second at
// 92 % CPU, with no way back. So the limit is a share of the memory the
// process may really use (the machine's, or its cgroup's if smaller),
// far above the working set: the collector paces itself by GOGC as usual
// and only works harder when memory truly runs short.
package memlimit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

const (
	// Floor and Ceiling bound the limit: never near the working set, and
	// never more than the box could want.
	Floor   = 256 << 20
	Ceiling = 1 << 30
	// share: a quarter of memory leaves the rest to ffmpeg, the speech
	// worker and the page cache the recorder writes through.
	share = 4
)

// For is the soft limit for a process that may use total bytes of memory
// (0 when unknown: Floor).
func For(total uint64) int64 {
	return int64(min(max(total/share, Floor), Ceiling))
}

// Set applies the rule: GOMEMLIMIT in the environment wins (the runtime
// has already applied it); otherwise For the memory of the machine or of
// the process's cgroup, whichever is smaller. It returns the limit in
// force and where it came from, for the log.
func Set(getenv func(string) string) (limit int64, source string) {
	if getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	}
	total, source := Available(os.DirFS("/"))
	limit = For(total)
	debug.SetMemoryLimit(limit)
	return limit, source
}

// Available is the memory the process may use and where that number came
// from: MemTotal, lowered to the cgroup's limit (v2 memory.max, v1
// memory.limit_in_bytes) when that is smaller. root is the file system
// root ("/" on a running box).
func Available(root fs.FS) (uint64, string) {
	total, source := uint64(0), "unknown"
	if n, err := memTotal(root); err == nil {
		total, source = n, "MemTotal"
	}
	if n, err := cgroupLimit(root); err == nil && (total == 0 || n < total) {
		total, source = n, "cgroup"
	}
	return total, source
}

func memTotal(root fs.FS) (uint64, error) {
	b, err := fs.ReadFile(root, "proc/meminfo")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("memlimit: MemTotal: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("memlimit: no MemTotal in /proc/meminfo")
}

// cgroupLimit reads the memory limit of the process's own cgroup.
func cgroupLimit(root fs.FS) (uint64, error) {
	b, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		dir := strings.Trim(parts[2], "/")
		var file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			file = join("sys/fs/cgroup", dir, "memory.max")
		case hasController(parts[1], "memory"):
			file = join("sys/fs/cgroup/memory", dir, "memory.limit_in_bytes")
		default:
			continue
		}
		v, err := fs.ReadFile(root, file)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(v))
		if s == "max" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n >= 1<<62 { // v1 says "no limit" with a huge number
			continue
		}
		return n, nil
	}
	return 0, errors.New("memlimit: no cgroup memory limit")
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}
