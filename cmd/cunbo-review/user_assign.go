package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// runBoxAssign gives a box (one woman, for now) to a social worker's
// caseload, taking it from any earlier one.
func runBoxAssign(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("box assign", flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	if code, ok := parse(fs, args, 2, stderr); !ok {
		return code
	}
	boxID, name := fs.Arg(0), fs.Arg(1)
	st, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review box assign: %v\n", err)
		return 1
	}
	defer st.Close()
	u, err := st.User(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(stderr, "cunbo-review box assign: no user %s (cunbo-review user add)\n", name)
			return 1
		}
		fmt.Fprintf(stderr, "cunbo-review box assign: %v\n", err)
		return 1
	}
	if !u.Has(store.RoleSocial) {
		fmt.Fprintf(stderr, "cunbo-review box assign: %s is not a social worker (role social)\n", name)
		return 1
	}
	audit := store.AuditEntry{At: time.Now(), Actor: "cli", Action: "box.assign", Subject: boxID, Detail: "user=" + name}
	if err := st.AssignBox(ctx, boxID, name, audit); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(stderr, "cunbo-review box assign: no box %s (cunbo-review box list)\n", boxID)
			return 1
		}
		fmt.Fprintf(stderr, "cunbo-review box assign: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "box %s is in the caseload of %s\n", boxID, name)
	return 0
}
