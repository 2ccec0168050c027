package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The RTSP preview has no login, so cunbo sim keeps it on this computer
// unless told otherwise.
func TestSimPreviewDefaultsToLoopback(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runSim(context.Background(), []string{"-h"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("cunbo sim -h: exit %d: %s", code, stderr.String())
	}
	if want := `(default "127.0.0.1:8554")`; !strings.Contains(stderr.String(), want) {
		t.Fatalf("cunbo sim -h does not show %s:\n%s", want, stderr.String())
	}
}
