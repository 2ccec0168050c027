//go:build !linux

package linkemu

import (
	"errors"
	"os"
)

// OpenTUN needs Linux.
func OpenTUN(netns, name string) (*os.File, error) {
	return nil, errors.New("linkemu: TUN devices need Linux")
}
