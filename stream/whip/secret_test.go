package whip_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/whip"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A WHIP key may sit in the endpoint's path or query, or be the bearer
// token: none of them may reach the log or the status (LastError) when the
// server cannot be reached.
func TestKeyNeverShown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every POST fails

	secrets := []string{"PATHKEY123", "QUERYTOK456", "BEARER789"}
	var logs syncBuffer
	p, err := whip.New(whip.Config{
		URL:        "http://" + addr + "/whip/PATHKEY123?token=QUERYTOK456",
		Token:      "BEARER789",
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	p.SetTracks(stream.Tracks{SPS: []byte{0x67, 0x42, 0xc0, 0x1f}, PPS: []byte{0x68, 0xce, 0x3c, 0x80}})

	deadline := time.Now().Add(30 * time.Second)
	for p.Stats().Connects == 0 && p.Stats().LastError == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a few more attempts
	cancel()
	<-done

	st := p.Stats()
	if st.LastError == nil {
		t.Fatal("no error from an endpoint nobody listens on")
	}
	if !strings.Contains(st.LastError.Error(), addr) {
		t.Errorf("the error should still say where: %v", st.LastError)
	}
	for _, s := range secrets {
		if strings.Contains(st.LastError.Error(), s) {
			t.Errorf("LastError shows %s: %v", s, st.LastError)
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log shows %s:\n%s", s, logs.String())
		}
	}
}
