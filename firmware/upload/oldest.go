package upload

import (
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
)

// OldestPending is when the oldest flagged segment still waiting to be
// sent was made (its id starts with its UTC time); zero when none waits.
// The fleet page reads a queue that stays old as a box that cannot reach
// the service from where it is. Session records are not counted: they are
// queued after the segments of their live and sent after them.
func (u *Uploader) OldestPending() time.Time {
	if u.cfg.Source == nil {
		return time.Time{}
	}
	u.mu.Lock()
	failed := make(map[string]bool, len(u.failed))
	for k := range u.failed {
		failed[k] = true
	}
	u.mu.Unlock()
	var oldest time.Time
	for _, s := range u.cfg.Source.List() {
		if s.Status != flagged.StatusPending || failed[KindSegment+"/"+s.ID] {
			continue
		}
		at, err := time.Parse("20060102T150405", s.ID[:min(15, len(s.ID))])
		if err == nil && (oldest.IsZero() || at.Before(oldest)) {
			oldest = at
		}
	}
	return oldest
}
