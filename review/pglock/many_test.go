package pglock_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	tus "github.com/tus/tusd/v2/pkg/handler"

	"github.com/cunbo/cunbo/review/pglock"
	"github.com/cunbo/cunbo/review/pgtest"
)

// TestManyLocksFewConnections: one server holds the locks of many uploads
// at once (one per box writing) on a pool of DefaultConns connections, and
// each still excludes another server. With a connection held per lock, the
// pool's size capped the uploads a server wrote at once: the next one
// waited the whole Wait and was answered 423.
func TestManyLocksFewConnections(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDB(t)
	dbA := open(t, dsn)
	dbA.SetMaxOpenConns(pglock.DefaultConns)
	a, b := pglock.New(dbA), pglock.New(open(t, dsn))
	a.Wait = 2 * time.Second
	b.Wait = 100 * time.Millisecond
	const uploads = 100
	var held []tus.Lock
	for i := range uploads {
		k, err := lock(t, a, fmt.Sprintf("u%d", i), func() {})
		if err != nil {
			t.Fatalf("lock %d of %d held at once on %d connections: %v", i+1, uploads, pglock.DefaultConns, err)
		}
		held = append(held, k)
	}
	for _, i := range []int{0, uploads / 2, uploads - 1} {
		if _, err := lock(t, b, fmt.Sprintf("u%d", i), func() {}); !errors.Is(err, tus.ErrFileLocked) {
			t.Fatalf("another server locking u%d held by the first: %v, want ErrFileLocked", i, err)
		}
	}
	for _, k := range held {
		if err := k.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
	k, err := lock(t, b, "u0", func() {})
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	k.Unlock()
	var n int
	if err := open(t, dsn).QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d advisory locks left after every unlock (%v)", n, err)
	}
}
