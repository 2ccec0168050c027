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
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
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
	for _, b := range []string{"initdb", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(BinDir, b)); err != nil {
			t.Fatalf("pgtest: %v (install postgresql-15: make deps)", err)
		}
	}
	// Not t.TempDir: its parents are private to root, and the cluster runs
	// as another user who must reach the socket directory.
	dir, err := os.MkdirTemp("", "cunbo-pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &Cluster{dir: dir, data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("pgtest: running as root needs the user nobody: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		c.runAs = []string{"runuser", "-u", "nobody", "--"}
	}
	c.run(t, filepath.Join(BinDir, "initdb"), "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	// fsync off: the cluster is thrown away, and the shared test machine
	// has slow disks.
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c fsync=off -c max_connections=50", dir)
	c.run(t, filepath.Join(BinDir, "pg_ctl"), "-D", c.data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start")
	t.Cleanup(func() { c.Stop(t) })
	return c
}

func (c *Cluster) run(t testing.TB, name string, args ...string) {
	t.Helper()
	argv := append(append([]string{}, c.runAs...), append([]string{name}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		t.Fatalf("pgtest: %s: %v\n%s\nserver log:\n%s", filepath.Base(name), err, out, log)
	}
}

// Stop stops the server (fast shutdown); the cluster's files stay until
// cleanup, so Restart brings back the same databases.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	argv := append(append([]string{}, c.runAs...), filepath.Join(BinDir, "pg_ctl"), "-D", c.data, "-m", "fast", "-w", "stop")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	_ = cmd.Run() // already stopped is fine
}

// Restart starts a stopped cluster again.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c fsync=off -c max_connections=50", c.dir)
	c.run(t, filepath.Join(BinDir, "pg_ctl"), "-D", c.data, "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "start")
}

// DSN is the connection string for database name.
func (c *Cluster) DSN(name string) string {
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", c.dir, name)
}

// NewDB creates an empty database and returns its DSN.
func (c *Cluster) NewDB(t testing.TB) string {
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
	return c.DSN(name)
}
