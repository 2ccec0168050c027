package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/ingest"
	"github.com/cunbo/cunbo/review/retention"
	"github.com/cunbo/cunbo/review/store"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// runForget deletes a streamer's data on her request. A box is one seller
// for now, so her data is her box's; when boxes are shared this takes a
// person instead.
func runForget(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("forget", flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	blobs := fs.String("blobs", "", "blob store, as for serve")
	boxID := fs.String("box", "", "the box whose data goes (a box is one seller)")
	by := fs.String("by", "", "who asked for the deletion, for the audit log (a name or staff id)")
	var segs listFlag
	fs.Var(&segs, "segment", "only this segment id (repeat for several); without it, everything of the box")
	if code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	if *boxID == "" || *by == "" {
		fmt.Fprintln(stderr, "cunbo-review forget: --box and --by are required")
		return 2
	}
	if sf.data == "" && *blobs == "" {
		fmt.Fprintln(stderr, "cunbo-review forget: --data is required (the blob files are there), or --db with --blobs s3://")
		return 2
	}
	st, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review forget: %v\n", err)
		return 1
	}
	defer st.Close()
	bs, err := blob.OpenURL(ctx, *blobs, sf.data)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review forget: %v\n", err)
		return 1
	}
	c, err := retention.Forget(ctx, st, bs, *boxID, segs, "cli:"+*by, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review forget: %v\n", err)
		return 1
	}
	var f store.Forgotten
	if len(segs) == 0 {
		// Her coaching notes (and anything of the console's left about
		// her) go too, after her segments.
		actor := "cli:" + *by
		if f, err = st.ForgetConsole(ctx, *boxID, func(f store.Forgotten) *store.AuditEntry {
			return &store.AuditEntry{At: time.Now(), Actor: actor, Action: "forget.console", Subject: "box:" + *boxID,
				Detail: fmt.Sprintf("notes=%d reads=%d decisions=%d escalations=%d assessments=%d ready=%d", f.Notes, f.NoteReads, f.Decisions, f.Escalations, f.Assessments, f.ReadyMarks)}
		}); err != nil {
			fmt.Fprintf(stderr, "cunbo-review forget: %v\n", err)
			return 1
		}
	}
	uploads := 0
	if len(segs) == 0 && sf.data != "" {
		// A half-sent clip is hers too.
		if uploads, err = ingest.RemoveBoxUploads(ctx, filepath.Join(sf.data, "uploads"), *boxID); err != nil {
			fmt.Fprintf(stderr, "cunbo-review forget: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "removed %d segments (%d with clips), %d session records, %d unfinished uploads, %d coaching notes (%d read receipts), %d decisions, %d escalations, %d practice scores, %d ready marks of box %s\n",
		c.Segments, c.Clips, c.Sessions, uploads, f.Notes, f.NoteReads, f.Decisions, f.Escalations, f.Assessments, f.ReadyMarks, *boxID)
	return 0
}
