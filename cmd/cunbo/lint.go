package main

import (
	"context"
	"fmt"
	"io"
)

func runLint(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "cunbo lint: not built yet")
	return 1
}
