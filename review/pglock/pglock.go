// Package pglock is a tusd handler.Locker over PostgreSQL advisory locks,
// so several review servers on one database never write the same upload
// at once.
//
// Each held lock has a connection of its own, taken from a pool kept apart
// from the store's: a session-level advisory lock belongs to a connection,
// and PostgreSQL releases it when that connection ends, so a server that
// crashes or loses the database frees its uploads' locks by itself.
//
// A lock held by a request in the same process is asked to let go (tusd's
// requestUnlock: its PATCH stops and answers); one held by another server
// is waited for up to Wait, then the request gets 423 Locked and the box
// asks again later.
package pglock

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	tus "github.com/tus/tusd/v2/pkg/handler"
)

// DefaultWait is how long a request waits for another server's lock.
const DefaultWait = 3 * time.Second

// poll is how often a lock held elsewhere is tried again.
const poll = 50 * time.Millisecond

// Locker hands out upload locks.
type Locker struct {
	db   *sql.DB
	Wait time.Duration

	mu    sync.Mutex
	local map[int64]func() // requestUnlock of this process's holders
}

// New returns a Locker over db, a pool used only for locks (its size bounds
// the uploads written at once).
func New(db *sql.DB) *Locker {
	return &Locker{db: db, Wait: DefaultWait, local: map[int64]func(){}}
}

// UseIn makes composer use the locker.
func (l *Locker) UseIn(c *tus.StoreComposer) { c.UseLocker(l) }

// key maps an upload id onto the bigint space of advisory locks; the
// prefix keeps them apart from any other advisory lock on the database.
func key(id string) int64 {
	s := sha256.Sum256([]byte("cunbo-review upload\x00" + id))
	return int64(binary.BigEndian.Uint64(s[:8]))
}

// NewLock returns the (unlocked) lock of upload id.
func (l *Locker) NewLock(id string) (tus.Lock, error) {
	return &lock{l: l, key: key(id)}, nil
}

type lock struct {
	l    *Locker
	key  int64
	conn *sql.Conn
}

// Lock takes the lock on a connection of its own.
func (k *lock) Lock(ctx context.Context, requestUnlock func()) error {
	if k.conn != nil {
		return errors.New("pglock: lock taken twice")
	}
	wait := k.l.Wait
	if wait <= 0 {
		wait = DefaultWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	conn, err := k.l.db.Conn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return tus.ErrFileLocked
		}
		return fmt.Errorf("pglock: %w", err)
	}
	asked := false
	for {
		var ok bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", k.key).Scan(&ok); err != nil {
			discard(conn)
			if ctx.Err() != nil {
				return tus.ErrFileLocked
			}
			return fmt.Errorf("pglock: %w", err)
		}
		if ok {
			k.conn = conn
			k.l.mu.Lock()
			k.l.local[k.key] = requestUnlock
			k.l.mu.Unlock()
			return nil
		}
		if !asked {
			k.l.mu.Lock()
			holder := k.l.local[k.key]
			k.l.mu.Unlock()
			if holder != nil {
				holder()
			}
			asked = true
		}
		select {
		case <-ctx.Done():
			conn.Close()
			return tus.ErrFileLocked
		case <-time.After(poll):
		}
	}
}

// Unlock releases the lock and gives its connection back; a connection that
// fails to unlock is closed, which releases the lock all the same.
func (k *lock) Unlock() error {
	if k.conn == nil {
		return errors.New("pglock: unlock of a lock not held")
	}
	k.l.mu.Lock()
	delete(k.l.local, k.key)
	k.l.mu.Unlock()
	conn := k.conn
	k.conn = nil
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", k.key).Scan(&ok); err != nil || !ok {
		discard(conn)
		if err != nil {
			return fmt.Errorf("pglock: unlock: %w (connection closed, which releases it)", err)
		}
		return nil // lost with its connection already
	}
	return conn.Close()
}

// discard closes a connection for good instead of pooling it, so no lock
// it may hold outlives it.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	c.Close()
}
