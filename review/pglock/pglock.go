// Package pglock is a tusd handler.Locker over PostgreSQL advisory locks,
// so several review servers on one database never write the same upload
// at once.
//
// A lock is taken twice: in the process first (one holder per upload,
// whose requestUnlock a newcomer calls: tusd then ends the holder's PATCH),
// then across servers with a session-level advisory lock on one of a few
// connections the Locker keeps for all its locks (Conns). A session lock
// belongs to its connection, and PostgreSQL releases it when that
// connection ends, so a server that crashes or loses the database frees
// its uploads' locks by itself; when a lock connection fails, its holders
// are asked to let go, since their locks went with it.
//
// Sharing a few connections, rather than holding one per upload being
// written, costs one short query to lock and one to unlock: with a
// connection per lock, the pool's size capped the PATCHes a server took at
// once, and a segment's whole store step (S3 round trips, a transaction)
// ran under that cap; 300 boxes queued behind 32 connections and the
// service answered 27 segments/s with a p99 of seconds.
//
// A lock held by another server is waited for up to Wait, then the request
// gets 423 Locked and the box asks again later.
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

// DefaultWait is how long a request waits for a lock.
const DefaultWait = 3 * time.Second

// DefaultConns is how many connections one Locker holds its locks on.
// Each lock or unlock is one short query, so a few serve thousands a
// second; more than one keeps a slow query from holding up every upload.
const DefaultConns = 8

// poll is how often a lock held elsewhere is tried again.
const poll = 50 * time.Millisecond

// queryTimeout bounds one lock or unlock query.
const queryTimeout = 10 * time.Second

// Locker hands out upload locks.
type Locker struct {
	db   *sql.DB
	Wait time.Duration

	conns []*lockConn

	mu    sync.Mutex
	local map[int64]*holder
}

// holder is this process's holder of one upload's lock.
type holder struct {
	requestUnlock func()
	released      chan struct{}
}

// lockConn is one connection locks are taken on; mu serialises its
// queries and guards conn and held.
type lockConn struct {
	mu   sync.Mutex
	conn *sql.Conn
	held map[int64]*holder // advisory locks this connection holds
}

// New returns a Locker over db, from which it takes DefaultConns
// connections for its locks (give it a pool of its own, sized so).
func New(db *sql.DB) *Locker {
	l := &Locker{db: db, Wait: DefaultWait, local: map[int64]*holder{}}
	for range DefaultConns {
		l.conns = append(l.conns, &lockConn{held: map[int64]*holder{}})
	}
	return l
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
	k := key(id)
	return &lock{l: l, key: k, c: l.conns[uint64(k)%uint64(len(l.conns))]}, nil
}

type lock struct {
	l   *Locker
	key int64
	c   *lockConn
	h   *holder
}

// Lock takes the lock in the process, then on the database.
func (k *lock) Lock(ctx context.Context, requestUnlock func()) error {
	if k.h != nil {
		return errors.New("pglock: lock taken twice")
	}
	wait := k.l.Wait
	if wait <= 0 {
		wait = DefaultWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	h := &holder{requestUnlock: requestUnlock, released: make(chan struct{})}
	if err := k.l.takeLocal(ctx, k.key, h); err != nil {
		return err
	}
	for {
		ok, err := k.c.try(ctx, k.l.db, k.key, h)
		if err != nil {
			k.l.releaseLocal(k.key, h)
			if ctx.Err() != nil {
				return tus.ErrFileLocked
			}
			return err
		}
		if ok {
			k.h = h
			return nil
		}
		select {
		case <-ctx.Done():
			k.l.releaseLocal(k.key, h)
			return tus.ErrFileLocked
		case <-time.After(poll):
		}
	}
}

// takeLocal makes h the process's holder of key, asking the one before it
// to let go and waiting for it until ctx ends.
func (l *Locker) takeLocal(ctx context.Context, key int64, h *holder) error {
	asked := false
	for {
		l.mu.Lock()
		cur := l.local[key]
		if cur == nil {
			l.local[key] = h
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		if !asked {
			cur.requestUnlock()
			asked = true
		}
		select {
		case <-ctx.Done():
			return tus.ErrFileLocked
		case <-cur.released:
		}
	}
}

func (l *Locker) releaseLocal(key int64, h *holder) {
	l.mu.Lock()
	if l.local[key] == h {
		delete(l.local, key)
	}
	l.mu.Unlock()
	close(h.released)
}

// try asks the database for key's lock once, opening the connection if
// needed; a connection that fails is dropped (see fail).
func (c *lockConn) try(ctx context.Context, db *sql.DB, key int64, h *holder) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		conn, err := db.Conn(ctx)
		if err != nil {
			return false, fmt.Errorf("pglock: %w", err)
		}
		c.conn = conn
	}
	// Not ctx: a request giving up must not cut a query on a connection
	// other uploads' locks live on (pgx closes a connection whose query is
	// cancelled). The query is short; queryTimeout bounds a hung database.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queryTimeout)
	defer cancel()
	var ok bool
	if err := c.conn.QueryRowContext(qctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		c.fail()
		return false, fmt.Errorf("pglock: %w", err)
	}
	if ok {
		c.held[key] = h
	}
	return ok, nil
}

// fail drops the connection (closing it for good, which releases every
// lock it held) and asks those locks' holders to let go: another server may
// take them now. Called with c.mu held.
func (c *lockConn) fail() {
	discard(c.conn)
	c.conn = nil
	for key, h := range c.held {
		delete(c.held, key)
		go h.requestUnlock()
	}
}

// Unlock releases the lock on the database, then in the process. A
// connection that fails to unlock is closed, which releases it all the same.
func (k *lock) Unlock() error {
	if k.h == nil {
		return errors.New("pglock: unlock of a lock not held")
	}
	h := k.h
	k.h = nil
	defer k.l.releaseLocal(k.key, h)
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[k.key] != h || c.conn == nil {
		return nil // lost with its connection already
	}
	delete(c.held, k.key)
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	var ok bool
	if err := c.conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", k.key).Scan(&ok); err != nil {
		c.fail()
		return fmt.Errorf("pglock: unlock: %w (connection closed, which releases it)", err)
	}
	return nil
}

// discard closes a connection for good instead of pooling it, so no lock
// it may hold outlives it.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	c.Close()
}
