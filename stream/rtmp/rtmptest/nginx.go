// Package rtmptest runs a real nginx with the RTMP module as a test peer:
// a private instance on a free loopback port, configured in a temp dir, that
// records every published stream to FLV so tests can ffprobe what arrived.
//
// It needs Debian's nginx and libnginx-mod-rtmp (installed by `make deps`).
// It works both as root and as an ordinary user.
package rtmptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// modulePaths are where Debian's libnginx-mod-rtmp puts the module.
var modulePaths = []string{
	"/usr/lib/nginx/modules/ngx_rtmp_module.so",
	"/usr/share/nginx/modules/ngx_rtmp_module.so",
}

// Config describes one nginx instance.
type Config struct {
	// Dir holds nginx.conf, logs, the pid file and the recordings. Required.
	Dir string
	// Port to listen on (127.0.0.1). Zero picks a free one.
	Port int
	// NginxPath defaults to "nginx" on PATH, then /usr/sbin/nginx.
	NginxPath string
	// ModulePath defaults to the Debian RTMP module location.
	ModulePath string
}

// Server is a running (or stopped) nginx instance. Its port stays the same
// across Stop/Start so tests can simulate an ingest server going away and
// coming back.
type Server struct {
	cfg        Config
	nginx      string
	addr       string
	recordDir  string
	confPath   string
	errLogPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// FindModule returns the path of the installed RTMP module.
func FindModule() (string, error) {
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("rtmptest: ngx_rtmp_module.so not found in %v (install libnginx-mod-rtmp)", modulePaths)
}

func findNginx(p string) (string, error) {
	if p != "" {
		return p, nil
	}
	if lp, err := exec.LookPath("nginx"); err == nil {
		return lp, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("rtmptest: nginx binary not found (install nginx)")
}

// Start writes the configuration and starts nginx, returning once it
// accepts connections. ctx bounds only the start-up.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("rtmptest: Config.Dir is required")
	}
	bin, err := findNginx(cfg.NginxPath)
	if err != nil {
		return nil, err
	}
	if cfg.ModulePath == "" {
		if cfg.ModulePath, err = FindModule(); err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg:        cfg,
		nginx:      bin,
		recordDir:  filepath.Join(cfg.Dir, "rec"),
		confPath:   filepath.Join(cfg.Dir, "nginx.conf"),
		errLogPath: filepath.Join(cfg.Dir, "error.log"),
	}
	if err := os.MkdirAll(s.recordDir, 0o755); err != nil {
		return nil, fmt.Errorf("rtmptest: %w", err)
	}
	// A port picked by the kernel can be taken by someone else before nginx
	// binds it; pick again a few times rather than fail the test.
	attempts := 1
	if cfg.Port == 0 {
		attempts = 5
	}
	for i := 0; ; i++ {
		port := cfg.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.writeConfig(); err != nil {
			return nil, err
		}
		if err = s.Start(ctx); err == nil {
			return s, nil
		}
		if i+1 >= attempts || ctx.Err() != nil {
			return nil, err
		}
	}
}

// New starts nginx for a test in t.TempDir and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Start(ctx, Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("rtmptest: stop: %v", err)
		}
	})
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("rtmptest: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) writeConfig() error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "load_module %s;\n", s.cfg.ModulePath)
	// Only root's nginx switches user; run workers as ourselves so they
	// can write into the temp dir (as non-root the directive only warns).
	if os.Geteuid() == 0 {
		u, err := user.Current()
		if err != nil {
			return fmt.Errorf("rtmptest: %w", err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return fmt.Errorf("rtmptest: %w", err)
		}
		fmt.Fprintf(&b, "user %s %s;\n", u.Username, g.Name)
	}
	// One process without a master: SIGKILL then really drops every
	// connection, which is what a crashed ingest server looks like.
	fmt.Fprintf(&b, "daemon off;\nmaster_process off;\nworker_processes 1;\n")
	fmt.Fprintf(&b, "pid %s;\n", filepath.Join(s.cfg.Dir, "nginx.pid"))
	fmt.Fprintf(&b, "error_log %s info;\n", s.errLogPath)
	fmt.Fprintf(&b, "events { worker_connections 128; }\n")
	// The RTMP module's default access log is under /var/log, which an
	// ordinary user cannot open.
	fmt.Fprintf(&b, `rtmp {
    access_log %s;
    server {
        listen %s;
        chunk_size 4096;
        application live {
            live on;
            record all;
            record_path %s;
            record_unique off;
        }
    }
}
`, filepath.Join(s.cfg.Dir, "access.log"), s.addr, s.recordDir)
	if err := os.WriteFile(s.confPath, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("rtmptest: write config: %w", err)
	}
	return nil
}

// Start (re)starts a stopped server on the same port and waits until it
// accepts connections.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("rtmptest: already running")
	}
	cmd := exec.Command(s.nginx, "-e", s.errLogPath, "-p", s.cfg.Dir+"/", "-c", s.confPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("rtmptest: start nginx: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("rtmptest: nginx exited at start-up: %s %s", out.String(), s.tailLog())
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("rtmptest: nginx not accepting on %s: %w %s", s.addr, ctx.Err(), s.tailLog())
		case <-tick.C:
		}
	}
}

func (s *Server) tailLog() string {
	b, _ := os.ReadFile(s.errLogPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop shuts nginx down gracefully (recordings are closed). It is a no-op
// on a stopped server.
func (s *Server) Stop() error {
	return s.signal(syscall.SIGQUIT, 10*time.Second)
}

// Kill ends nginx abruptly, as a crash or power cut on the ingest side would.
func (s *Server) Kill() error {
	return s.signal(syscall.SIGKILL, 10*time.Second)
}

func (s *Server) signal(sig syscall.Signal, wait time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("rtmptest: nginx ignored %v for %v, killed", sig, wait)
	}
}

// Addr is the host:port nginx listens on.
func (s *Server) Addr() string { return s.addr }

// URL is the rtmp:// URL to publish stream to.
func (s *Server) URL(stream string) string {
	return "rtmp://" + s.addr + "/live/" + stream
}

// RecordingPath is where nginx records stream (one FLV per stream name,
// overwritten by the next publish).
func (s *Server) RecordingPath(stream string) string {
	return filepath.Join(s.recordDir, stream+".flv")
}

// ErrorLog returns nginx's error log, for test failure messages.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(s.errLogPath)
	return string(b)
}
