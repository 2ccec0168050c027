package upload

import (
	"testing"
	"time"
)

// The oldest segment waiting is the queue's age; nothing waiting is zero.
func TestOldestPending(t *testing.T) {
	f := newFixture(t)
	u := f.uploader(nil)
	if at := u.OldestPending(); !at.IsZero() {
		t.Fatalf("empty queue: oldest %v", at)
	}
	f.segment(t0.Add(time.Hour), 0)
	f.segment(t0, 0)
	f.segment(t0.Add(2*time.Hour), 0)
	if at := u.OldestPending(); !at.Equal(t0) {
		t.Fatalf("oldest %v, want %v", at, t0)
	}
	if u := f.uploader(func(c *Config) { c.Source = nil }); !u.OldestPending().IsZero() {
		t.Fatal("an uploader without segments has an oldest one")
	}
}
