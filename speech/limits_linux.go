//go:build linux

package speech

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// applyLimits lowers the worker's priority and caps its address space. It
// runs right after the worker starts, before it has loaded its models (which
// takes far longer than these two system calls).
func applyLimits(pid, nice int, memory int64) error {
	var errs []error
	if nice != 0 {
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, pid, nice); err != nil {
			errs = append(errs, fmt.Errorf("setpriority %d: %w", nice, err))
		}
	}
	if memory > 0 {
		lim := unix.Rlimit{Cur: uint64(memory), Max: uint64(memory)}
		if err := unix.Prlimit(pid, unix.RLIMIT_AS, &lim, nil); err != nil {
			errs = append(errs, fmt.Errorf("prlimit RLIMIT_AS: %w", err))
		}
	}
	return errors.Join(errs...)
}
