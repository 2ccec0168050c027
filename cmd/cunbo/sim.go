package main

import (
	"context"
	"fmt"
	"io"
)

// runSim is replaced when the media pipeline lands.
func runSim(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "cunbo sim: the simulated box is not built yet")
	return 1
}
