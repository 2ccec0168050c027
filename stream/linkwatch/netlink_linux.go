package linkwatch

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func open() (*os.File, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	sa := &unix.SockaddrNetlink{
		Family: unix.AF_NETLINK,
		Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV4_ROUTE |
			unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_IPV6_ROUTE,
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Non-blocking, so the runtime poller can interrupt reads on Close.
	return os.NewFile(uintptr(fd), "rtnetlink"), nil
}

// read turns notifications into events until the socket fails.
func (w *Watcher) read(out chan<- Event) error {
	buf := make([]byte, 1<<16)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue // a torn or unknown message; the next one may be fine
		}
		for _, m := range msgs {
			if ev, ok := classify(m); ok {
				select {
				case out <- ev:
				default: // a burst; one event is enough
				}
			}
		}
	}
}

// classify keeps the changes that can mean "the link is back".
func classify(m syscall.NetlinkMessage) (Event, bool) {
	switch m.Header.Type {
	case unix.RTM_NEWLINK:
		if len(m.Data) < unix.SizeofIfInfomsg {
			return Event{}, false
		}
		idx := int(int32(nativeUint32(m.Data[4:8])))
		flags := nativeUint32(m.Data[8:12])
		if flags&unix.IFF_UP != 0 && flags&unix.IFF_RUNNING != 0 {
			return Event{Kind: "link-up", Index: idx}, true
		}
	case unix.RTM_NEWADDR:
		if len(m.Data) < unix.SizeofIfAddrmsg {
			return Event{}, false
		}
		return Event{Kind: "addr", Index: int(nativeUint32(m.Data[4:8]))}, true
	case unix.RTM_NEWROUTE:
		return Event{Kind: "route"}, true
	}
	return Event{}, false
}
