package adapt

import (
	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/whip"
)

// RTMP reads an RTMP publisher's signal: its queue plus the socket's
// unacknowledged bytes as backlog, the acknowledged rate as throughput.
func RTMP(name string, p *rtmp.Publisher) Source {
	return SourceFunc(func() Signal {
		s := p.Stats()
		return Signal{
			Name:          name,
			Connected:     s.Connected,
			ThroughputBps: int(s.AckedBitrate),
			SentBps:       int(s.Bitrate),
			BacklogBytes:  s.BacklogBytes + s.SocketPending,
			RTT:           s.RTT,
			Since:         s.ConnectedSince,
		}
	})
}

// WHIP reads a WHIP publisher's signal: GCC's estimate and its queue.
func WHIP(name string, p *whip.Publisher) Source {
	return SourceFunc(func() Signal {
		s := p.Stats()
		return Signal{
			Name:         name,
			Connected:    s.Connected,
			EstimateBps:  s.TargetBitrate,
			SentBps:      int(s.Bitrate),
			BacklogBytes: s.BacklogBytes,
			Since:        s.ConnectedSince,
		}
	})
}
