package app

import (
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/record"
)

func TestStorageNote(t *testing.T) {
	now := time.Date(2026, 5, 1, 20, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		st   *record.Stats
		want string
	}{
		{"recording off", nil, ""},
		{"all well", &record.Stats{Healthy: true}, ""},
		{"full just now", &record.Stats{Healthy: true, DiskFull: 3, LastDiskFull: now.Add(-5 * time.Second)}, StorageFullNote},
		{"full long ago", &record.Stats{Healthy: true, DiskFull: 3, LastDiskFull: now.Add(-2 * time.Minute)}, ""},
		{"failing", &record.Stats{Healthy: false, LastError: "input/output error", LastErrorAt: now.Add(-time.Second)}, StorageFailedNote},
		{"failing because full", &record.Stats{LastErrorAt: now, LastDiskFull: now}, StorageFullNote},
		{"failed long ago, not since", &record.Stats{LastErrorAt: now.Add(-time.Hour)}, ""},
	} {
		if got := storageNote(tc.st, now); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
