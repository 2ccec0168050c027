//go:build !linux

package speech

// applyLimits is a no-op where setpriority/prlimit on another process are
// not available; the box itself is Linux.
func applyLimits(pid, nice int, memory int64) error { return nil }
