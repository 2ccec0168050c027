// Package server composes the review service: storage, blobs, box sign-in
// and uploads behind one http.Handler, with the health endpoints an
// orchestrator probes.
//
//	/healthz  the process is up (always 200)
//	/readyz   the database and the blob store answer (200, else 503)
//	/console/ the social workers' console (review/console)
//	/metrics  Prometheus metrics (review/metrics)
package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx", for the upload locks' pool
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"github.com/tus/tusd/v2/pkg/s3store"

	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/console"
	"github.com/cunbo/cunbo/review/ingest"
	"github.com/cunbo/cunbo/review/metrics"
	"github.com/cunbo/cunbo/review/pglock"
	"github.com/cunbo/cunbo/review/retention"
	"github.com/cunbo/cunbo/review/store"
)

// Config says where the service keeps things.
type Config struct {
	DataDir   string           // SQLite file, blob files, uploads in progress
	DB        string           // "" or postgres://...
	Blobs     string           // "" or s3://bucket?endpoint=...
	MaxUpload int64            // 0: ingest.DefaultMaxSize
	Retention retention.Policy // zero: retention.DefaultPolicy
	Log       *slog.Logger
	// Now is the console's clock (nil: time.Now); tests set it to see
	// a box go 失联 without waiting three days.
	Now func() time.Time
	// Signing is the trainer key the console signs setup bundles with;
	// nil: the provisioning page says signing is not set up.
	Signing *console.Signing
}

// Server is the composed service.
type Server struct {
	uploads *ingest.Handler
	store   store.Store
	blobs   blob.Store
	handler http.Handler
	keep    retention.Policy
	lockDB  *sql.DB // upload locks' pool, with S3 and PostgreSQL
	log     *slog.Logger
}

// uploadPart is the S3 part size of uploads in progress: S3's least (5
// MiB), so a segment (a few MiB) is one part and a server buffers little.
const uploadPart = 5 << 20

// partUploads bounds the S3 part uploads one server runs at once (each at
// most uploadPart, buffered in a temporary file, not in memory).
const partUploads = 64

// sharedUploads keeps uploads in progress in the blob bucket (under
// uploads/) instead of on this server's disk, so that any server can take
// an upload on, with PostgreSQL advisory locks between servers. With
// SQLite there is one server: an in-process lock is enough.
func sharedUploads(icfg *ingest.Config, b *blob.S3, db string) (*sql.DB, error) {
	us := s3store.New(b.Bucket(), b.Client())
	us.ObjectPrefix = b.ObjectKey("uploads")
	us.MinPartSize, us.PreferredPartSize = uploadPart, uploadPart
	// tusd allows 10 part uploads at once per server by default, sized
	// for 50 MiB parts; a segment is one small part, and hundreds of
	// boxes finishing theirs queued behind those 10.
	us.SetConcurrentPartUploads(partUploads)
	icfg.Uploads = us
	if db == "" {
		icfg.Locker = memorylocker.New()
		return nil, nil
	}
	lockDB, err := sql.Open("pgx", db)
	if err != nil {
		return nil, fmt.Errorf("upload locks: %w", err)
	}
	// pglock holds all its locks on a few connections of its own.
	lockDB.SetMaxOpenConns(pglock.DefaultConns)
	lockDB.SetMaxIdleConns(pglock.DefaultConns)
	icfg.Locker = pglock.New(lockDB)
	return lockDB, nil
}

// Open opens storage (running migrations) and builds the handler.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("server: a data directory is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Retention == (retention.Policy{}) {
		cfg.Retention = retention.DefaultPolicy()
	}
	if err := cfg.Retention.Validate(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	st, err := store.Open(ctx, cfg.DB, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	blobs, err := blob.OpenURL(ctx, cfg.Blobs, cfg.DataDir)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	auth := boxauth.New(st, nil, cfg.Log)
	met := metrics.New()
	icfg := ingest.Config{Store: st, Blobs: blobs, Auth: auth, UploadDir: filepath.Join(cfg.DataDir, "uploads"),
		MaxSize: cfg.MaxUpload, Log: cfg.Log, Observer: met}
	var lockDB *sql.DB
	if b, ok := blobs.(*blob.S3); ok {
		if lockDB, err = sharedUploads(&icfg, b, cfg.DB); err != nil {
			st.Close()
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	up, err := ingest.New(icfg)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{uploads: up, store: st, blobs: blobs, keep: cfg.Retention, lockDB: lockDB, log: cfg.Log}
	mux := http.NewServeMux()
	auth.Register(mux)
	con, err := console.New(console.Config{Store: st, Blobs: blobs, Log: cfg.Log, Auth: auth, Now: cfg.Now, Signing: cfg.Signing})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	con.Register(mux)
	if err := met.Fleet(con.FleetCounts); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	mux.Handle(ingest.BasePath, up)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", met.Handler())
	s.handler = met.Instrument(func(r *http.Request) (string, bool) {
		_, pattern := mux.Handler(r)
		if pattern == "" {
			return "unmatched", false
		}
		_, path, _ := strings.Cut(pattern, " ")
		if path == "" {
			path = pattern
		}
		return pattern, strings.HasPrefix(path, "/api/")
	}, mux)
	return s, nil
}

// Handler serves the service.
func (s *Server) Handler() http.Handler { return s.handler }

// Store is the service's store (for the command line's box subcommands).
func (s *Server) Store() store.Store { return s.store }

// sweepEvery is how often abandoned uploads and expired data are looked
// for.
const sweepEvery = time.Hour

// RunJanitor removes abandoned uploads and what is past its retention time
// at start and then hourly, until ctx is done.
func (s *Server) RunJanitor(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		s.Sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep runs the janitor's work once: abandoned uploads, then retention.
// Several servers on one database may sweep at once; each deletion is
// idempotent, so the worst case is a second, empty pass.
func (s *Server) Sweep(ctx context.Context) {
	if _, err := s.uploads.Sweep(ctx, ingest.DefaultAbandonAfter); err != nil {
		s.log.Error("server: sweep uploads", "err", err)
	}
	if _, err := retention.Sweep(ctx, s.store, s.blobs, s.keep, time.Now(), s.log); err != nil {
		s.log.Error("server: retention", "err", err)
	}
}

// Close closes the database.
func (s *Server) Close() error {
	if s.lockDB != nil {
		s.lockDB.Close()
	}
	return s.store.Close()
}

// readyTimeout bounds the probe, so a hung database reads as not ready
// instead of hanging the orchestrator's check.
const readyTimeout = 5 * time.Second

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	status := map[string]string{"database": "ok", "blobs": "ok"}
	code := http.StatusOK
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("server: not ready", "err", err)
		status["database"], code = "unreachable", http.StatusServiceUnavailable
	}
	if err := s.blobs.Ping(ctx); err != nil {
		s.log.Warn("server: not ready", "err", err)
		status["blobs"], code = "unreachable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, status)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
