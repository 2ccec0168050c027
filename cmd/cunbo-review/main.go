// Command cunbo-review is the review service that boxes upload their
// flagged segments to, and the tools to run it. It is pure Go
// (CGO_ENABLED=0) and shares no code with the box's binary: the database
// drivers and the S3 client stay off the Pi.
//
//	cunbo-review serve --data DIR --listen ADDR [--db postgres://…] [--blobs s3://…]
//	cunbo-review box add --key PUBKEYFILE | --key-hex HEX [--name NAME]
//	cunbo-review box revoke ID
//	cunbo-review box list
//	cunbo-review forget --box ID [--segment ID]... --by WHO
//	cunbo-review user add --role ROLE [--password-stdin] NAME
//	cunbo-review box assign BOXID USER
//
// Each subcommand is one file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/cunbo/cunbo/review/store"
)

// command is one subcommand; run gets the arguments after its name and
// returns the exit status.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"serve":        {"run the review service", runServe},
		"box add":      {"enrol a box by its ed25519 public key", runBoxAdd},
		"box revoke":   {"stop a box from uploading, at once", runBoxRevoke},
		"box list":     {"list enrolled boxes", runBoxList},
		"segment list": {"list the segments boxes have sent (metadata only)", runSegmentList},
		"forget":       {"delete a streamer's clips, transcripts and records on her request", runForget},
		"user add":     {"add a console user (--role social|trainer|admin)", runUserAdd},
		"box assign":   {"put a box (a woman) in a social worker's caseload", runBoxAssign},
		"provision":    {"the trainer's keys and bundles: init, trainer, revoke, bundle", runProvision},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	// Two-word commands ("box add") first.
	if len(args) >= 2 {
		if c, ok := cmds[args[0]+" "+args[1]]; ok {
			return c.run(ctx, args[2:], stdout, stderr)
		}
	}
	if c, ok := cmds[args[0]]; ok {
		return c.run(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "cunbo-review: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
	usage(stderr, cmds)
	return 2
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: cunbo-review <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
}

// parse parses a subcommand's flags and checks its positional arguments'
// count; when ok is false the command exits with code (0 for -h).
func parse(fs *flag.FlagSet, args []string, nargs int, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() != nargs {
		fmt.Fprintf(stderr, "cunbo-review %s: want %d argument(s), got %d\n", fs.Name(), nargs, fs.NArg())
		fs.Usage()
		return 2, false
	}
	return 0, true
}

// storeFlags are the flags every command that opens the store takes.
type storeFlags struct {
	data, db string
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", "", "data directory (SQLite database, blob files, uploads in progress)")
	fs.StringVar(&f.db, "db", "", "PostgreSQL URL (postgres://...); empty: SQLite under --data")
}

func (f *storeFlags) open(ctx context.Context) (store.Store, error) {
	if f.data == "" && f.db == "" {
		return nil, errors.New("--data or --db is required")
	}
	return store.Open(ctx, f.db, f.data)
}

func logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
