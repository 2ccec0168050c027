package record

import (
	"errors"

	"golang.org/x/sys/unix"
)

// diskSpace reports the room left on the filesystem holding dir: the
// bytes an unprivileged writer may still use (root may use a little more
// on ext4), the files that may still be created, and the totals. Files
// are 0 where the filesystem does not count them (btrfs).
func diskSpace(dir string) (space, error) {
	var st unix.Statfs_t
	var err error
	for {
		err = unix.Statfs(dir, &st)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return space{}, err
	}
	// The field types differ between 32- and 64-bit ARM.
	bs := int64(st.Frsize) //nolint:unconvert
	if bs <= 0 {
		bs = int64(st.Bsize) //nolint:unconvert
	}
	return space{free: int64(st.Bavail) * bs, total: int64(st.Blocks) * bs,
		freeFiles: int64(st.Ffree), files: int64(st.Files)}, nil
}

// diskFull reports whether err says the filesystem (or the user's disk
// quota) has no room: deleting old recordings can fix that, unlike other
// IO errors.
func diskFull(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}
