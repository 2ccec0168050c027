package weaklink

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/cunbo/cunbo/stream/whip/whiptest"
)

// Arrivals is a receiver's record of when media arrived.
type Arrivals struct {
	mu      sync.Mutex
	frames  []whiptest.Frame
	media   []MediaArrival // the same video frames with their media timestamps
	session int
	bytes   []byteAt // audio and video, for delivered bitrate
}

// MediaArrival is one video frame's arrival with the timestamp the stream
// gave it, for measuring how far behind live a viewer falls.
type MediaArrival struct {
	At    time.Time
	Media time.Duration // the frame's decode timestamp in its stream
	// Session numbers the play sessions: a new one restarts the stream's
	// clock, so lag is measured within each.
	Session int
}

type byteAt struct {
	at time.Time
	n  int
}

func (a *Arrivals) addVideo(at time.Time, n int, key bool, media time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.frames = append(a.frames, whiptest.Frame{At: at, Bytes: n, Key: key})
	a.media = append(a.media, MediaArrival{At: at, Media: media, Session: a.session})
	a.bytes = append(a.bytes, byteAt{at, n})
}

func (a *Arrivals) addAudio(at time.Time, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bytes = append(a.bytes, byteAt{at, n})
}

// newSession marks the start of a play session.
func (a *Arrivals) newSession() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.session++
}

// Media returns a copy of the video frame arrivals with media timestamps.
func (a *Arrivals) Media() []MediaArrival {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]MediaArrival(nil), a.media...)
}

// Frames returns a copy of the video frame arrivals.
func (a *Arrivals) Frames() []whiptest.Frame {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]whiptest.Frame(nil), a.frames...)
}

func (a *Arrivals) byteSeries() []byteAt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]byteAt(nil), a.bytes...)
}

// Receivers run in the receiver namespace: nginx-rtmp with a player per
// stream timing arrivals, and the pion WHIP endpoint.
type Receivers struct {
	net   *Net
	dir   string
	nginx *exec.Cmd
	WHIP  *whiptest.Server
	wg    sync.WaitGroup
	stop  context.CancelFunc
	ctx   context.Context
	// Log, if set, hears about player sessions.
	Log *slog.Logger
}

const rtmpPort = 1935
const whipPort = 8089

// StartReceivers starts nginx and the WHIP endpoint inside n.Rx.
func StartReceivers(n *Net, dir string) (*Receivers, error) {
	mod, err := rtmptest.FindModule()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	c := fmt.Sprintf(`load_module %s;
daemon off;
master_process off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log info;
events { worker_connections 256; }
rtmp {
    access_log %s/access.log;
    server {
        listen 0.0.0.0:%d;
        chunk_size 4096;
        application live {
            live on;
            wait_key on;
            # A publisher whose link died cannot say goodbye; like the
            # big platforms' ingest, let its replacement in quickly.
            drop_idle_publisher 5s;
        }
    }
}
`, mod, dir, dir, dir, rtmpPort)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", "netns", "exec", n.Rx, "nginx", "-p", dir, "-c", conf)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("weaklink: nginx: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Receivers{net: n, dir: dir, nginx: cmd, stop: cancel, ctx: ctx}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := Dialer(n.Rx)(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", rtmpPort))
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			r.Close()
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return nil, fmt.Errorf("weaklink: nginx did not start: %v: %s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var ln net.Listener
	var pc net.PacketConn
	err = Do(n.Rx, func() error {
		var err error
		if ln, err = net.Listen("tcp", fmt.Sprintf("%s:%d", n.RxIP, whipPort)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", n.RxIP+":0")
		return err
	})
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("weaklink: whip sockets: %w", err)
	}
	if r.WHIP, err = whiptest.Start(whiptest.Config{Listener: ln, ICEConn: pc}); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// RTMPURL is where the box publishes stream name.
func (r *Receivers) RTMPURL(name string) string {
	return fmt.Sprintf("rtmp://%s:%d/live/%s", r.net.RxIP, rtmpPort, name)
}

// WHIPURL is the WHIP endpoint.
func (r *Receivers) WHIPURL() string { return fmt.Sprintf("http://%s:%d/whip", r.net.RxIP, whipPort) }

// Play subscribes to stream name on nginx from inside the receiver
// namespace (so the shaped link is not crossed twice) and records
// arrivals; it re-subscribes whenever the play session ends.
func (r *Receivers) Play(name string) *Arrivals {
	a := &Arrivals{}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		u, _ := url.Parse(fmt.Sprintf("rtmp://127.0.0.1:%d/live#%s", rtmpPort, name)) // gortmplib: app in the path, key in the fragment
		for r.ctx.Err() == nil {
			c := &gortmplib.Client{URL: u, Publish: false, DialContext: Dialer(r.net.Rx)}
			ictx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
			err := c.Initialize(ictx)
			cancel()
			if err != nil && r.Log != nil {
				r.Log.Debug("weaklink: player connect", "stream", name, "err", err)
			}
			if err == nil {
				a.newSession()
				stop := context.AfterFunc(r.ctx, c.Close)
				for {
					msg, err := c.Read()
					if err != nil {
						if r.Log != nil {
							r.Log.Debug("weaklink: player read", "stream", name, "err", err)
						}
						break
					}
					now := time.Now()
					switch m := msg.(type) {
					case *message.Video:
						if m.Type == message.VideoTypeAU {
							a.addVideo(now, len(m.AU), m.IsKeyFrame, m.DTS)
						}
					case *message.Audio:
						a.addAudio(now, len(m.AU))
					}
				}
				stop()
				c.Close()
			}
			select {
			case <-r.ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return a
}

// Close stops everything.
func (r *Receivers) Close() {
	r.stop()
	if r.WHIP != nil {
		_ = r.WHIP.Close()
	}
	if r.nginx != nil && r.nginx.Process != nil {
		_ = r.nginx.Process.Kill()
		_ = r.nginx.Wait()
	}
	r.wg.Wait()
}

// Lag says, for each frame, how far behind its own start the stream has
// fallen (seconds): (arrival − first arrival) − (media ts − first media ts).
// A stream delivered on time stays near 0 (± jitter); one slowed down by
// back-pressure (a publisher whose writes block, queues that grow) grows
// steadily; a stall that skips ahead to fresh frames does not add lag.
//
// The reference is re-anchored so the figures mean something across
// interruptions:
//   - at a new play session and when the media timestamp goes backwards
//     (a publisher that reconnected restarts its clock), the next frame
//     starts from 0;
//   - when a frame arrives earlier than the reference predicts, it becomes
//     the reference: the first frame may itself have been late, and a
//     publisher whose clock jumped forward must not give negative lag.
//     Lag is thus never negative, measured from the least-delayed frame of
//     the session so far.
func Lag(frames []MediaArrival) []float64 {
	out := make([]float64, len(frames))
	if len(frames) == 0 {
		return out
	}
	origin := frames[0].At
	var anchor time.Duration // arrival − media of the reference frame
	for i, f := range frames {
		d := f.At.Sub(origin) - f.Media
		restart := i == 0 || f.Session != frames[i-1].Session || f.Media < frames[i-1].Media
		if restart || d < anchor {
			anchor = d
		}
		out[i] = (d - anchor).Seconds()
	}
	return out
}

// lagStats is the 95th percentile (nearest rank) and maximum of a lag
// series, nil without frames.
func lagStats(lag []float64) (p95, maxLag *float64) {
	if len(lag) == 0 {
		return nil, nil
	}
	s := slices.Clone(lag)
	slices.Sort(s)
	rank := int(math.Ceil(0.95*float64(len(s)))) - 1
	p, m := s[max(rank, 0)], s[len(s)-1]
	return &p, &m
}
