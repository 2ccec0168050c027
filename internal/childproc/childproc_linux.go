//go:build linux

package childproc

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

type startReq struct {
	cmd  *exec.Cmd
	done chan<- error
}

// forker returns the channel of the process-wide forking goroutine. It is
// package state on purpose: the thread behind it must outlive every child
// of the process, so there can be only one and it never stops.
var forker = sync.OnceValue(func() chan<- startReq {
	reqs := make(chan startReq)
	go func() {
		// Never unlocked: the goroutine never returns, so its thread
		// lives as long as the process.
		runtime.LockOSThread()
		for r := range reqs {
			r.done <- r.cmd.Start()
		}
	}()
	return reqs
})

// Start starts cmd (like cmd.Start) so that the kernel kills it with
// SIGKILL when this process dies. It keeps any SysProcAttr the caller set.
func Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	done := make(chan error, 1)
	forker() <- startReq{cmd: cmd, done: done}
	return <-done
}
