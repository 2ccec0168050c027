package provision

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cunbo/cunbo/firmware/atomicfile"
)

// DefaultReadyWithin is how long a new configuration has to come up ready
// (built, pipeline idle and serving) before the box goes back to the last
// good one.
const DefaultReadyWithin = 90 * time.Second

// ErrRolledBack is Guard's error when it rolled back: the caller restarts
// the box so the previous configuration is used.
var ErrRolledBack = errors.New("provision: the new configuration did not come up; rolled back")

// Boot is called once at every start, before the configuration is read.
// When current is on trial and this start already noted it, the box
// restarted (crashed, failed to build, was cut off) before the new
// configuration came up: it rolls back and says so. Otherwise it notes the
// trial and reports it, and the caller runs Guard. It returns the version
// to start with (false: the factory configuration).
func (s *Store) Boot() (v Version, onTrial bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.link(CurrentLink)
	if !ok {
		return Version{}, false, nil
	}
	v = s.version(n)
	if v.Ready {
		return v, false, nil
	}
	st := s.readState()
	if st.Trial != nil && st.Trial.Version == n {
		if err := s.rollback(st, n, fmt.Sprintf("the box restarted before version %d came up ready", n)); err != nil {
			return Version{}, false, err
		}
		if p, ok := s.link(CurrentLink); ok {
			return s.version(p), false, nil
		}
		return Version{}, false, nil
	}
	if err := Check(v); err != nil {
		if err := s.rollback(st, n, err.Error()); err != nil {
			return Version{}, false, err
		}
		if p, ok := s.link(CurrentLink); ok {
			return s.version(p), false, nil
		}
		return Version{}, false, nil
	}
	st.Trial = &trial{Version: n, Since: s.now()}
	if err := s.writeState(st); err != nil {
		// Without the note a crash would not roll back: better not to
		// try the new version at all.
		if rerr := s.rollback(st, n, "cannot note the trial: "+err.Error()); rerr != nil {
			return Version{}, false, errors.Join(err, rerr)
		}
		p, ok := s.link(CurrentLink)
		if ok {
			return s.version(p), false, nil
		}
		return Version{}, false, nil
	}
	s.log.Info("provision: trying a new configuration", "version", n)
	return v, true, nil
}

// Confirm marks the version on trial as good: it came up ready. It does
// nothing when no version is on trial, or when another has been applied
// since the trial began (that one has its own trial at the next start).
func (s *Store) Confirm() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.readState()
	n, ok := s.link(CurrentLink)
	if !ok || st.Trial == nil || st.Trial.Version != n {
		return nil
	}
	v := s.version(n)
	if !v.Ready {
		if err := atomicfile.WriteFile(filepath.Join(v.Dir, ReadyFile), []byte(s.now().UTC().Format(time.RFC3339)+"\n"), 0o640); err != nil {
			return fmt.Errorf("provision: %w", err)
		}
	}
	st.Trial = nil
	first := st.Outcome != nil && st.Outcome.FirstTrust && st.Outcome.Version == n
	st.Outcome = &Outcome{At: s.now(), Version: n, OK: true, FirstTrust: first,
		Message: fmt.Sprintf("✅ 新设置已用上 (第 %d 版)", n)}
	s.log.Info("provision: new configuration is up", "version", n)
	return s.writeState(st)
}

// Rollback goes back from current to previous (or to the factory
// configuration when there is none) and keeps why.
func (s *Store) Rollback(reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.link(CurrentLink)
	if !ok {
		return nil
	}
	return s.rollback(s.readState(), n, reason)
}

func (s *Store) rollback(st state, bad uint64, reason string) error {
	prev, havePrev := s.link(PreviousLink)
	if havePrev && prev != bad {
		if err := s.setLink(CurrentLink, prev); err != nil {
			return err
		}
	} else if err := s.removeLink(CurrentLink); err != nil {
		return err
	}
	// previous must not name the bad version's predecessor twice over: a
	// second rollback would have nowhere good to go.
	if err := s.removeLink(PreviousLink); err != nil {
		return err
	}
	st.Tried = max(st.Tried, bad)
	st.Trial = nil
	msg := fmt.Sprintf("↩️ 新设置 (第 %d 版) 没能用上，盒子已换回原来的设置", bad)
	if havePrev && prev != bad {
		msg = fmt.Sprintf("↩️ 新设置 (第 %d 版) 没能用上，盒子已换回原来的设置 (第 %d 版)", bad, prev)
	}
	st.Outcome = &Outcome{At: s.now(), Version: bad, Kind: "rollback", Message: msg + "，请告诉培训老师", Reason: reason}
	s.log.Error("provision: rolled back", "version", bad, "to", prev, "reason", reason)
	_ = os.RemoveAll(filepath.Join(s.dir, VersionsDir, versionName(bad)))
	return s.writeState(st)
}

// Guard waits for ready for at most within. Ready in time confirms the
// trial; otherwise it rolls the trial's version back and returns
// ErrRolledBack. It returns ctx's error when the box stops first (the next
// start decides), and nil at once when nothing is on trial.
func (s *Store) Guard(ctx context.Context, within time.Duration, ready <-chan struct{}) error {
	if within <= 0 {
		within = DefaultReadyWithin
	}
	s.mu.Lock()
	st := s.readState()
	s.mu.Unlock()
	if st.Trial == nil {
		return nil
	}
	n := st.Trial.Version
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-ready:
		return s.Confirm()
	case <-t.C:
		s.mu.Lock()
		defer s.mu.Unlock()
		st := s.readState()
		if cur, ok := s.link(CurrentLink); !ok || cur != n || st.Trial == nil || st.Trial.Version != n {
			return nil // not the trial any more
		}
		if err := s.rollback(st, n, fmt.Sprintf("not ready within %v", within)); err != nil {
			return err
		}
		return ErrRolledBack
	case <-ctx.Done():
		return ctx.Err()
	}
}
