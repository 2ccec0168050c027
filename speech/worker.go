package speech

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/internal/childproc"
	"github.com/cunbo/cunbo/speech/wire"
)

// result is how one worker run ended.
type result struct {
	// loadFailed: the worker never got its models loaded (it said so, or
	// died before saying hello).
	loadFailed bool
	detail     string
}

// runWorker starts one worker and serves it until it exits or ctx ends.
func (s *Supervisor) runWorker(ctx context.Context) result {
	cmd := exec.Command(s.cfg.WorkerPath,
		"--vad", s.cfg.VADModel, "--model", s.cfg.ModelDir, "--pipe",
		"--threads", strconv.Itoa(s.cfg.Threads))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return result{detail: err.Error()}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return result{detail: err.Error()}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return result{detail: err.Error()}
	}
	s.update(func(st *Status) {
		if st.State != StateOff {
			st.State = StateStarting
		}
	})
	if err := childproc.Start(cmd); err != nil {
		return result{loadFailed: true, detail: fmt.Sprintf("cannot start worker: %v", err)}
	}
	pid := cmd.Process.Pid
	if err := applyLimits(pid, s.cfg.Nice, s.cfg.MemoryLimit); err != nil {
		// Unlimited captions beat no captions; say so and go on.
		s.log.Warn("cannot limit speech worker", "pid", pid, "err", err)
	}
	s.log.Info("speech worker started", "pid", pid)
	s.update(func(st *Status) { st.PID = pid })

	done := make(chan struct{})
	var wg sync.WaitGroup
	var lastWords lastLine
	wg.Add(1)
	go func() { // stderr: log it, remember why it died
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 4096), 64<<10)
		for sc.Scan() {
			line := sc.Text()
			lastWords.offer(line)
			s.log.Debug("speech worker", "pid", pid, "line", line)
		}
	}()

	w := wire.NewWriter(stdin)
	wg.Add(1)
	go func() { // audio to the worker
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				// Closing stdin asks the worker to finish its utterance
				// and exit.
				stdin.Close()
				return
			case frame := <-s.queue:
				if err := w.WriteRaw(frame); err != nil {
					return
				}
			}
		}
	}()

	var lastPong atomic.Int64
	lastPong.Store(time.Now().UnixNano())
	var killedHung atomic.Bool
	wg.Add(1)
	go func() { // liveness
		defer wg.Done()
		t := time.NewTicker(s.cfg.PingInterval)
		defer t.Stop()
		var inFlight atomic.Bool
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				// Give the worker a moment to flush, then make sure.
				select {
				case <-done:
				case <-time.After(3 * time.Second):
					cmd.Process.Kill()
				}
				return
			case <-t.C:
			}
			if time.Since(time.Unix(0, lastPong.Load())) > s.cfg.PingTimeout {
				s.log.Error("speech worker hung, killing it", "pid", pid)
				killedHung.Store(true)
				cmd.Process.Kill()
				return
			}
			if inFlight.CompareAndSwap(false, true) {
				go func() {
					defer inFlight.Store(false)
					_ = w.WriteFrame(wire.TypePing, []byte(strconv.FormatInt(time.Now().UnixNano(), 36)))
				}()
			}
		}
	}()

	res := s.readWorker(stdout, &lastPong)
	s.setAccepting(false)
	// Unblock and reap: the worker is done talking, make sure it is gone.
	if ctx.Err() == nil {
		cmd.Process.Kill()
	}
	close(done)
	waitErr := cmd.Wait()
	wg.Wait()

	if res.detail == "" {
		res.detail = describeExit(waitErr)
		if l := lastWords.get(); l != "" {
			res.detail += ": " + l
		}
	}
	if killedHung.Load() {
		res.detail = "no answer to ping for " + s.cfg.PingTimeout.String()
	}
	s.log.Info("speech worker stopped", "pid", pid, "detail", res.detail)
	return res
}

// readWorker consumes the worker's frames until its stdout closes.
func (s *Supervisor) readWorker(stdout io.Reader, lastPong *atomic.Int64) result {
	r := wire.NewReader(stdout)
	helloSeen := false
	for {
		f, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				s.log.Error("bad frame from speech worker", "err", err)
			}
			return result{loadFailed: !helloSeen}
		}
		switch f.Type {
		case wire.TypeHello:
			h, err := wire.DecodeHello(f.Payload)
			if err != nil {
				return result{loadFailed: true, detail: err.Error()}
			}
			helloSeen = true
			if !h.Loaded {
				return result{loadFailed: true, detail: h.Error}
			}
			s.setAccepting(true)
			s.update(func(st *Status) {
				st.State, st.Family, st.Reason = StateOn, h.Family, ""
			})
			s.log.Info("captions on", "family", h.Family)
		case wire.TypeSegment:
			seg, err := wire.DecodeSegment(f.Payload)
			if err != nil {
				s.log.Warn("bad segment from speech worker", "err", err)
				continue
			}
			if seg.Text == "" {
				continue
			}
			s.deliver(Caption{Start: wire.Duration(seg.Start), End: wire.Duration(seg.End), Text: seg.Text, Final: seg.Final})
		case wire.TypePong:
			lastPong.Store(time.Now().UnixNano())
		}
	}
}

func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String() // "exit status 3", "signal: killed"
	}
	if err == nil {
		return "exited"
	}
	return err.Error()
}

// lastLine keeps the worker's most telling stderr line: the library's
// exception text or our own error log beat the goroutine dump that follows.
type lastLine struct {
	mu      sync.Mutex
	notable string
}

func (l *lastLine) offer(line string) {
	t := strings.TrimSpace(line)
	if strings.HasPrefix(t, "what():") || strings.Contains(t, "level=ERROR") ||
		strings.HasPrefix(t, "panic:") || strings.HasPrefix(t, "fatal error:") {
		if len(t) > 300 {
			t = t[:300]
		}
		l.mu.Lock()
		l.notable = t
		l.mu.Unlock()
	}
}

func (l *lastLine) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.notable
}
