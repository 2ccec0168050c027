package flagged

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/internal/tmpfstest"
)

// fillCard writes until the card refuses, into one file a recorder could
// delete.
func fillCard(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "recording.mp4")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}

// A moment she was warned about is kept on a full card: the store asks the
// recorder for room (old recordings go) and writes again, both when the
// segment is created and when a finding joins it.
func TestFullCardMakesRoomForFindings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		makeRoom bool
	}{
		{"recorder asked for room", true},
		{"nobody to ask", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := tmpfstest.Mount(t, "size=4m")
			dir := filepath.Join(card, "flagged")
			if err := os.Mkdir(dir, 0o750); err != nil {
				t.Fatal(err)
			}
			var recording string
			asked := 0
			cfg := Config{Dir: dir}
			if tc.makeRoom {
				cfg.MakeRoom = func(need int64) bool {
					asked++
					return os.Remove(recording) == nil
				}
			}
			st, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			recording = fillCard(t, card)
			seg := findingSegment(t0)
			seg.ClipPending = &Range{From: t0.Add(-5 * time.Second), To: t0.Add(2 * time.Second)}
			got, err := st.Create(seg, nil)
			if !tc.makeRoom {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("Create on a full card with nobody to ask: %v, want ENOSPC", err)
				}
				return
			}
			if err != nil || asked != 1 {
				t.Fatalf("Create on a full card: %v (room asked %d times)", err, asked)
			}
			recording = fillCard(t, card)
			if _, err := st.Update(got.ID, func(s *Segment) error { s.RulePack = "again"; return nil }); err != nil || asked != 2 {
				t.Fatalf("Update on a full card: %v (room asked %d times)", err, asked)
			}
			if back, err := st.Get(got.ID); err != nil || back.RulePack != "again" {
				t.Fatalf("after the update: %+v, %v", back, err)
			}
		})
	}
}
