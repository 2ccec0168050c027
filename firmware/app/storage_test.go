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
		lost uint64
		want string
	}{
		{"recording off", nil, 0, ""},
		{"all well", &record.Stats{Healthy: true}, 0, ""},
		{"full just now", &record.Stats{Healthy: true, DiskFull: 3, LastDiskFull: now.Add(-5 * time.Second)}, 0, StorageFullNote},
		{"full long ago", &record.Stats{Healthy: true, DiskFull: 3, LastDiskFull: now.Add(-2 * time.Minute)}, 0, ""},
		{"failing", &record.Stats{Healthy: false, LastError: "input/output error", LastErrorAt: now.Add(-time.Second)}, 0, StorageFailedNote},
		{"failing because full", &record.Stats{LastErrorAt: now, LastDiskFull: now}, 0, StorageFullNote},
		{"failed long ago, not since", &record.Stats{LastErrorAt: now.Add(-time.Hour)}, 0, ""},
		{"flagged moments lost", &record.Stats{Healthy: true}, 2, "卡太满，有 2 段要给社工看的片段没保住"},
		{"full and lost", &record.Stats{Healthy: true, LastDiskFull: now}, 1, StorageFullNote + "；卡太满，有 1 段要给社工看的片段没保住"},
		{"lost without a recorder", nil, 1, "卡太满，有 1 段要给社工看的片段没保住"},
	} {
		if got := storageNote(tc.st, tc.lost, now); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
