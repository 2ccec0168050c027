// Package childproc starts the box's child processes (ffmpeg encoders,
// camera pipes such as rpicam-vid, the microphone's ffmpeg, the speech
// worker) so that they die with the box. An orphaned ffmpeg keeps the Pi's
// camera busy, and the restarted box then cannot open it: after a kill -9,
// a crash or a watchdog kill the children must go too, which only the
// kernel can guarantee (Linux: PR_SET_PDEATHSIG, SIGKILL).
//
// The kernel sends the death signal when the *thread* that forked the child
// exits, not the process. Go normally keeps its threads, but it ends the
// thread of a goroutine that exits while locked to it (as netns or tun code
// does on purpose), and such a goroutine may run cmd.Start. So every child
// is forked from one goroutine locked to its own thread for the life of the
// process; that thread ends only with the process.
package childproc

import "os/exec"

// Run starts cmd as Start does and waits for it, for short-lived children
// whose output is read through cmd.Stdout.
func Run(cmd *exec.Cmd) error {
	if err := Start(cmd); err != nil {
		return err
	}
	return cmd.Wait()
}
