package weaklink

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/cunbo/cunbo/stream/nginxtest"
	"github.com/cunbo/cunbo/stream/whip/whiptest"
)

// Arrivals is a receiver's record of when media arrived.
type Arrivals struct {
	mu     sync.Mutex
	frames []whiptest.Frame
	bytes  []byteAt // audio and video, for delivered bitrate
}

type byteAt struct {
	at time.Time
	n  int
}

func (a *Arrivals) add(at time.Time, n int, video, key bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if video {
		a.frames = append(a.frames, whiptest.Frame{At: at, Bytes: n, Key: key})
	}
	a.bytes = append(a.bytes, byteAt{at, n})
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
	mod, err := nginxtest.FindModule()
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
							a.add(now, len(m.AU), true, m.IsKeyFrame)
						}
					case *message.Audio:
						a.add(now, len(m.AU), false, false)
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
