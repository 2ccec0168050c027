package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// runSegmentList lists what the boxes have sent: a trainer's check that a
// box's uploads arrive (the console is where they are reviewed). Metadata
// only: no transcript or clip is shown here.
func runSegmentList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("segment list", flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	boxID := fs.String("box", "", "only this box's segments (default: every box's)")
	if code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	st, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review segment list: %v\n", err)
		return 1
	}
	defer st.Close()
	ids := []string{*boxID}
	if *boxID == "" {
		boxes, err := st.Boxes(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "cunbo-review segment list: %v\n", err)
			return 1
		}
		ids = ids[:0]
		for _, b := range boxes {
			ids = append(ids, b.ID)
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BOX\tSEGMENT\tREASON\tAT\tRECEIVED\tBYTES\tCLIP")
	for _, id := range ids {
		segs, err := st.Segments(ctx, id)
		if err != nil {
			fmt.Fprintf(stderr, "cunbo-review segment list: box %s: %v\n", id, err)
			return 1
		}
		for _, s := range segs {
			clip := "yes"
			if s.ClipKey == "" {
				clip = "no"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.BoxID, s.ID, s.Reason,
				s.At.Local().Format(time.DateTime), s.Received.Local().Format(time.DateTime), s.Size, clip)
		}
	}
	if err := tw.Flush(); err != nil {
		return 1
	}
	return 0
}
