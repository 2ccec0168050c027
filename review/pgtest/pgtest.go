// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb and
// pg_ctl from Debian's postgresql-15 (make deps installs it), in a temporary
// directory, listening only on a unix socket there, stopped in cleanup.
//
// initdb refuses to run as root, and CI runs as root, so as root the cluster
// is run as the unprivileged user nobody, who is given the directory.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

// BinDir is where Debian's postgresql-15 puts initdb and pg_ctl.
const BinDir = "/usr/lib/postgresql/15/bin"

// Cluster is a running throwaway cluster.
type Cluster struct {
	dir   string
	data  string
	runAs []string // prefix that runs a command as the cluster's owner
	dbs   atomic.Int64
}

// Start initialises and starts a cluster; cleanup stops it and removes its
// files. A missing PostgreSQL is a test failure, not a skip: CI must have it.
func Start(t testing.TB) *Cluster {
	t.Helper()
	c, stop, err := launch()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(stop)
	return c
}

// launch initialises and starts a cluster; stop stops it and removes its
// files.
func launch() (c *Cluster, stop func(), err error) {
	for _, b := range []string{"initdb", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(BinDir, b)); err != nil {
			return nil, nil, fmt.Errorf("%w (install postgresql-15: make deps)", err)
		}
	}
	// Not t.TempDir: its parents are private to root, and the cluster runs
	// as another user who must reach the socket directory.
	dir, err := os.MkdirTemp("", "cunbo-pgtest-")
	if err != nil {
		return nil, nil, err
	}
	c = &Cluster{dir: dir, data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, fmt.Errorf("running as root needs the user nobody: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		c.runAs = []string{"runuser", "-u", "nobody", "--"}
	}
	if err := c.exec(filepath.Join(BinDir, "initdb"), "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	if err := c.start(); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return c, func() { c.stop(); os.RemoveAll(dir) }, nil
}

// start runs the server. fsync is off: the cluster is thrown away, and the
// shared test machine has slow disks.
func (c *Cluster) start() error {
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c fsync=off -c max_connections=50", c.dir)
	return c.exec(filepath.Join(BinDir, "pg_ctl"), "-D", c.data, "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "start")
}

func (c *Cluster) exec(name string, args ...string) error {
	argv := append(append([]string{}, c.runAs...), append([]string{name}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("%s: %w\n%s\nserver log:\n%s", filepath.Base(name), err, out, log)
	}
	return nil
}

func (c *Cluster) stop() {
	argv := append(append([]string{}, c.runAs...), filepath.Join(BinDir, "pg_ctl"), "-D", c.data, "-m", "fast", "-w", "stop")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	_ = cmd.Run() // already stopped is fine
}

// Shared is one cluster for a package's tests, started by the first test
// that asks for it (a run of only SQLite tests or fuzz targets starts
// none) and stopped by TestMain after m.Run:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }
//
// Tests take a fresh database each with pg.Cluster(t).NewDB(t).
type Shared struct {
	once sync.Once
	c    *Cluster
	stop func()
	err  error
}

// Cluster starts the cluster on the first call and returns it; a cluster
// that could not start fails every test that asks for it.
func (s *Shared) Cluster(t testing.TB) *Cluster {
	t.Helper()
	s.once.Do(func() { s.c, s.stop, s.err = launch() })
	if s.err != nil {
		t.Fatalf("pgtest: %v", s.err)
	}
	return s.c
}

// Main runs the tests, then stops the cluster if one was started.
func (s *Shared) Main(m *testing.M) int {
	code := m.Run()
	// Once.Do here too: a test still starting the cluster (one that
	// timed out does not get here) has finished before it is stopped.
	s.once.Do(func() {})
	if s.stop != nil {
		s.stop()
	}
	return code
}

// Stop stops the server (fast shutdown); the cluster's files stay until
// cleanup, so Restart brings back the same databases.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.stop()
}

// Restart starts a stopped cluster again.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	if err := c.start(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// DSN is the connection string for database name.
func (c *Cluster) DSN(name string) string {
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", c.dir, name)
}

// NewDB creates an empty database and returns its DSN.
func (c *Cluster) NewDB(t testing.TB) string {
	t.Helper()
	return c.DSN(c.newDB(t))
}

func (c *Cluster) newDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", c.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", c.DSN("postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return name
}

// NewURL creates an empty database and returns its postgres:// URL, the
// form server.Config.DB (--db) takes.
func (c *Cluster) NewURL(t testing.TB) string {
	t.Helper()
	name := c.newDB(t)
	return "postgres:///" + name + "?host=" + url.QueryEscape(c.dir) + "&user=postgres&sslmode=disable"
}
