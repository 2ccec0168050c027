//go:build !linux

package childproc

import "os/exec"

// Start starts cmd. Only Linux (the box) can tie a child's life to its
// parent's; elsewhere this is cmd.Start.
func Start(cmd *exec.Cmd) error { return cmd.Start() }
