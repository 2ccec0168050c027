package record

import (
	"os"
	"syscall"
)

// datasync flushes file data (and the size, which fdatasync includes) without
// forcing a metadata-only journal commit for timestamps.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
