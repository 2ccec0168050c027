//go:build !linux

package record

import (
	"errors"
	"syscall"
)

var errNoStatfs = errors.New("free space unknown on this system")

// diskSpace is only measured on Linux, the box's system; elsewhere the
// quota alone bounds the ring.
func diskSpace(string) (space, error) { return space{}, errNoStatfs }

func diskFull(err error) bool { return errors.Is(err, syscall.ENOSPC) }
