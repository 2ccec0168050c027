package rtmp

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// notsentLowat bounds the bytes the kernel holds unsent for us: beyond it
// writes wait, so a slow link shows up as our own queue (where the fan-out
// can skip a GOP) instead of seconds of data hidden in the socket buffer.
const notsentLowat = 64 << 10

// tuneSocket applies notsentLowat; failure only costs latency.
func tuneSocket(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, notsentLowat)
	})
}

// socketState reads the kernel's view of the connection: bytes not yet
// acknowledged by the peer (unsent plus in flight), total bytes acked, and
// the smoothed RTT.
func socketState(c net.Conn) (pending int, acked uint64, rtt time.Duration, ok bool) {
	sc, isSC := c.(syscall.Conn)
	if !isSC {
		return 0, 0, 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, 0, 0, false
	}
	var info *unix.TCPInfo
	cerr := rc.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if cerr != nil || err != nil || info == nil {
		return 0, 0, 0, false
	}
	// Byte counters drift apart after retransmissions; segments in
	// flight times the MSS does not.
	inflight := int(info.Unacked) * int(info.Snd_mss)
	return inflight + int(info.Notsent_bytes), info.Bytes_acked, time.Duration(info.Rtt) * time.Microsecond, true
}
