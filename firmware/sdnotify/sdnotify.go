// Package sdnotify speaks systemd's notify protocol in pure Go: datagrams
// of KEY=VALUE lines sent to $NOTIFY_SOCKET. The box uses it for Type=notify
// readiness, a human status line, and a watchdog that only pets systemd
// while the pipeline is actually healthy, so a wedged encoder gets the
// service restarted instead of being kept alive by a bare timer.
package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
)

// Notifier sends notifications to one socket. The zero value (and a nil
// *Notifier) is a disabled notifier whose methods do nothing: the box runs
// the same outside systemd.
type Notifier struct {
	addr *net.UnixAddr
}

// New returns a notifier for $NOTIFY_SOCKET, disabled when it is unset.
func New() *Notifier { return FromEnv(os.Getenv) }

// FromEnv is New with an injectable environment.
func FromEnv(getenv func(string) string) *Notifier {
	return At(getenv("NOTIFY_SOCKET"))
}

// At returns a notifier for socket: a path, or "@name" for an abstract
// socket. Empty means disabled.
func At(socket string) *Notifier {
	if socket == "" {
		return &Notifier{}
	}
	name := socket
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	return &Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// Enabled reports whether notifications go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Notify sends one datagram of newline-separated KEY=VALUE assignments.
func (n *Notifier) Notify(assignments ...string) error {
	if !n.Enabled() {
		return nil
	}
	for _, a := range assignments {
		if !strings.Contains(a, "=") {
			return fmt.Errorf("sdnotify: %q is not KEY=VALUE", a)
		}
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(assignments, "\n"))); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// Ready tells systemd start-up is complete, with a status line.
func (n *Notifier) Ready(status string) error {
	return n.Notify("READY=1", "STATUS="+oneLine(status))
}

// Status sets the line `systemctl status cunbo` shows.
func (n *Notifier) Status(status string) error { return n.Notify("STATUS=" + oneLine(status)) }

// Stopping tells systemd the service is shutting down on purpose.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// Watchdog pets the watchdog once.
func (n *Notifier) Watchdog() error { return n.Notify("WATCHDOG=1") }

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// WatchdogInterval reads WatchdogSec= as systemd passes it
// (WATCHDOG_USEC, and WATCHDOG_PID which must be this process). ok is
// false when no watchdog is expected.
func WatchdogInterval(getenv func(string) string) (interval time.Duration, ok bool, err error) {
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, false, nil
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, false, nil // meant for another process (e.g. our parent)
	}
	n, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || n <= 0 {
		return 0, false, fmt.Errorf("sdnotify: WATCHDOG_USEC=%q is not a positive integer", usec)
	}
	return time.Duration(n) * time.Microsecond, true, nil
}

// WatchdogOptions configure RunWatchdog.
type WatchdogOptions struct {
	// Interval is systemd's WatchdogSec; pings go out at half of it.
	Interval time.Duration
	// Healthy reports nil when the box is doing its job. While it returns
	// an error no pings are sent, the error becomes the status line, and
	// systemd restarts the service once Interval passes.
	Healthy func() error
	Clock   clockwork.Clock
	Logger  *slog.Logger
}

// RunWatchdog pets the watchdog while Healthy says so, until ctx ends.
func (n *Notifier) RunWatchdog(ctx context.Context, opts WatchdogOptions) error {
	if opts.Interval <= 0 || opts.Healthy == nil {
		return errors.New("sdnotify: watchdog needs a positive interval and a health func")
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	tick := opts.Clock.NewTicker(opts.Interval / 2)
	defer tick.Stop()
	wasHealthy := true
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.Chan():
		}
		var err error
		if herr := opts.Healthy(); herr != nil {
			if wasHealthy {
				opts.Logger.Error("unhealthy: withholding watchdog ping", "err", herr)
			}
			wasHealthy = false
			err = n.Status("unhealthy: " + herr.Error())
		} else {
			if !wasHealthy {
				opts.Logger.Info("healthy again")
				err = n.Notify("WATCHDOG=1", "STATUS=running")
			} else {
				err = n.Watchdog()
			}
			wasHealthy = true
		}
		if err != nil {
			opts.Logger.Warn("sd_notify", "err", err)
		}
	}
}
