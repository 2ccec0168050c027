package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/cunbo/cunbo/review/boxauth"
)

func runBoxRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("box revoke", flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	if code, ok := parse(fs, args, 1, stderr); !ok {
		return code
	}
	st, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review box revoke: %v\n", err)
		return 1
	}
	defer st.Close()
	id := fs.Arg(0)
	if err := boxauth.Revoke(ctx, st, id, "cli", time.Now()); err != nil {
		fmt.Fprintf(stderr, "cunbo-review box revoke: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "revoked %s\n", id)
	return 0
}
