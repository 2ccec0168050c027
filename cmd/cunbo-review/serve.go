package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/cunbo/cunbo/review/ingest"
	"github.com/cunbo/cunbo/review/retention"
	"github.com/cunbo/cunbo/review/server"
)

// shutdownGrace is how long uploads in flight get to finish on SIGTERM;
// an upload cut off after it is resumed by the box.
const shutdownGrace = 30 * time.Second

func runServe(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	listen := fs.String("listen", "127.0.0.1:8090", "address to listen on")
	blobs := fs.String("blobs", "", "blob store: empty for files under --data, or s3://bucket?endpoint=URL (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
	maxUpload := fs.Int64("max-upload", ingest.DefaultMaxSize, "largest upload accepted, in bytes")
	keep := retention.DefaultPolicy()
	keep.Register(fs)
	if code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	log := logger(stderr)
	if sf.data == "" {
		fmt.Fprintln(stderr, "cunbo-review serve: --data is required (uploads in progress are kept there)")
		return 2
	}
	srv, err := server.Open(ctx, server.Config{DataDir: sf.data, DB: sf.db, Blobs: *blobs, MaxUpload: *maxUpload, Retention: keep, Log: log})
	if err != nil {
		log.Error("cunbo-review serve", "err", err)
		return 1
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("cunbo-review serve", "err", err)
		return 1
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout: a PATCH over a rural uplink takes long; tusd
		// has its own idle timeout per read.
		IdleTimeout: 2 * time.Minute,
	}
	log.Info("cunbo-review: listening", "addr", ln.Addr().String(), "data", sf.data, "db", dbKind(sf.db), "blobs", blobKind(*blobs),
		"keep_clips", keep.Clips, "keep_transcripts", keep.Transcripts, "keep_records", keep.Sessions)
	jctx, stopJanitor := context.WithCancel(ctx)
	defer stopJanitor()
	go srv.RunJanitor(jctx)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("cunbo-review serve", "err", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("cunbo-review: shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("cunbo-review: shutdown", "err", err)
		return 1
	}
	log.Info("cunbo-review: stopped")
	return 0
}

// dbKind and blobKind name the backends for the log without credentials.
func dbKind(db string) string {
	if db == "" {
		return "sqlite"
	}
	return "postgres"
}

func blobKind(b string) string {
	if b == "" {
		return "files"
	}
	return "s3"
}
