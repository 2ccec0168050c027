//go:build !linux

package rtmp

import (
	"net"
	"time"
)

func tuneSocket(net.Conn) {}

func socketState(net.Conn) (pending int, acked uint64, rtt time.Duration, ok bool) {
	return 0, 0, 0, false
}
