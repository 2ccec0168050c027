package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/review/console"
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
	trainerKey := fs.String("trainer-key", "", "the trainer key the console signs setup bundles with (trainer.key from provision trainer); empty: no bundles from the console")
	trainerCert := fs.String("trainer-cert", "", "its certificate (default: trainer.cert beside the key)")
	rootPub := fs.String("root-pub", "", "the organisation's root public key (default: root.pub beside the key)")
	revs := fs.String("revocations", "", "the newest revocation list, passed on to the boxes in every bundle")
	if code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	log := logger(stderr)
	if sf.data == "" {
		fmt.Fprintln(stderr, "cunbo-review serve: --data is required (uploads in progress are kept there)")
		return 2
	}
	signing, err := loadSigning(*trainerKey, *trainerCert, *rootPub, *revs)
	if err != nil {
		log.Error("cunbo-review serve: trainer key", "err", err)
		return 1
	}
	srv, err := server.Open(ctx, server.Config{DataDir: sf.data, DB: sf.db, Blobs: *blobs, MaxUpload: *maxUpload, Retention: keep, Log: log, Signing: signing})
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

// loadSigning reads the files of `provision trainer --out DIR`; no key, no
// signing. A key that cannot sign now stops the start: a page that fails
// only when the trainer presses the button at a workshop is worse.
func loadSigning(keyPath, certPath, rootPath, revPath string) (*console.Signing, error) {
	if keyPath == "" {
		if certPath != "" || rootPath != "" || revPath != "" {
			return nil, errors.New("--trainer-cert, --root-pub and --revocations need --trainer-key")
		}
		return nil, nil
	}
	if certPath == "" {
		certPath = filepath.Join(filepath.Dir(keyPath), trainerCertFile)
	}
	if rootPath == "" {
		rootPath = filepath.Join(filepath.Dir(keyPath), rootPubFile)
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	var s console.Signing
	if s.Key, err = parseSeed(data); err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if err := readJSON(certPath, &s.Cert); err != nil {
		return nil, err
	}
	if s.Root, err = readPublicKeyFile(rootPath); err != nil {
		return nil, err
	}
	if revPath != "" {
		s.Revocations = new(bundle.SignedRevocations)
		if err := readJSON(revPath, s.Revocations); err != nil {
			return nil, err
		}
	}
	if err := console.CheckSigning(&s, time.Now()); err != nil {
		return nil, err
	}
	return &s, nil
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
