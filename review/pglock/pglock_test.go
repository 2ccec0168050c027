package pglock_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	tus "github.com/tus/tusd/v2/pkg/handler"

	"github.com/cunbo/cunbo/review/pglock"
	"github.com/cunbo/cunbo/review/pgtest"
)

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func lock(t *testing.T, l *pglock.Locker, id string, requestUnlock func()) (tus.Lock, error) {
	t.Helper()
	k, err := l.NewLock(id)
	if err != nil {
		t.Fatal(err)
	}
	return k, k.Lock(context.Background(), requestUnlock)
}

// TestTwoServers: two lockers on their own pools (two servers) exclude each
// other per upload, and a lock is free again after unlock or when its
// holder's connection dies.
func TestTwoServers(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDB(t)
	a, b := pglock.New(open(t, dsn)), pglock.New(open(t, dsn))
	b.Wait = 300 * time.Millisecond

	la, err := lock(t, a, "u1", func() {})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := lock(t, b, "u1", func() {}); !errors.Is(err, tus.ErrFileLocked) {
		t.Fatalf("second server locking a held upload: %v, want ErrFileLocked (423)", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 10*time.Second {
		t.Fatalf("gave up after %v, want about the 300 ms wait", d)
	}
	lb2, err := lock(t, b, "u2", func() {})
	if err != nil {
		t.Fatalf("another upload: %v", err)
	}
	if err := la.Unlock(); err != nil {
		t.Fatal(err)
	}
	lb, err := lock(t, b, "u1", func() {})
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	lb.Unlock()
	lb2.Unlock()

	// The holder's connection dies (a server gone): the lock goes with it.
	if _, err := lock(t, a, "u3", func() {}); err != nil {
		t.Fatal(err)
	}
	admin := open(t, dsn)
	var killed bool
	if err := admin.QueryRow(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' LIMIT 1`).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate the holder: %v %v", killed, err)
	}
	b.Wait = 10 * time.Second
	lb3, err := lock(t, b, "u3", func() {})
	if err != nil {
		t.Fatalf("after the holder's connection died: %v", err)
	}
	lb3.Unlock()
	var n int
	if err := admin.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d advisory locks left after every unlock (%v)", n, err)
	}
}

// TestAsksLocalHolder: a request in the same process holding the lock is
// asked to let go (tusd then ends its PATCH), and the new request gets it.
func TestAsksLocalHolder(t *testing.T) {
	pg := pgtest.Start(t)
	l := pglock.New(open(t, pg.NewDB(t)))
	var held tus.Lock
	var asked atomic.Bool
	held, err := lock(t, l, "u", func() {
		asked.Store(true)
		go held.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	again, err := lock(t, l, "u", func() {})
	if err != nil || !asked.Load() {
		t.Fatalf("second lock: %v, holder asked %v", err, asked.Load())
	}
	again.Unlock()
}
