package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

func runBoxList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("box list", flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	if code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	st, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review box list: %v\n", err)
		return 1
	}
	defer st.Close()
	boxes, err := st.Boxes(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review box list: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tADDED\tNAME\tPUBLIC KEY")
	for _, b := range boxes {
		state := "active"
		if b.IsRevoked() {
			state = "revoked " + b.Revoked.Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.ID, state, b.Added.Format(time.DateTime), b.Name, hex.EncodeToString(b.PublicKey))
	}
	if err := tw.Flush(); err != nil {
		return 1
	}
	return 0
}
