package provision

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/bundle"
)

func TestApplyBootConfirm(t *testing.T) {
	o := newOrg(t)
	dir := t.TempDir()
	s := openStore(t, dir)
	if _, ok, err := s.Trust(); ok || err != nil {
		t.Fatalf("a new box trusts a root already (%v)", err)
	}
	v := o.apply(t, s, 1)
	if got := configVersion(t, s); got != 1 || v.Number != 1 {
		t.Fatalf("current %d, applied %d", got, v.Number)
	}
	fi, err := os.Stat(filepath.Join(v.Dir, SecretsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v %v", fi, err)
	}
	tr, ok, err := s.Trust()
	if !ok || err != nil || !tr.Root.Equal(pub(o.root)) {
		t.Fatalf("trust after the first bundle: %v %v %v", tr, ok, err)
	}
	if out := s.Outcome(); out == nil || !out.Pending || !out.FirstTrust {
		t.Fatalf("outcome after apply: %+v", out)
	}
	// Reopened (the restart): on trial until confirmed.
	s = openStore(t, dir)
	bv, trial, err := s.Boot()
	if err != nil || !trial || bv.Number != 1 {
		t.Fatalf("Boot: %+v trial=%v %v", bv, trial, err)
	}
	if err := s.Confirm(); err != nil {
		t.Fatal(err)
	}
	if out := s.Outcome(); out == nil || out.Message != "✅ 新设置已用上 (第 1 版)" || !out.OK || out.Pending {
		t.Fatalf("outcome after confirm: %+v", out)
	}
	if _, trial, _ := openStore(t, dir).Boot(); trial {
		t.Fatal("a confirmed version is on trial again")
	}
}

func TestReplayRefused(t *testing.T) {
	o := newOrg(t)
	s := openStore(t, t.TempDir())
	old := o.verify(t, s, o.bundle(t, 4, 100)) // verified while the box had nothing
	o.apply(t, s, 5)
	for _, n := range []uint64{4, 5} {
		b := o.bundle(t, n, 100)
		_, err := bundle.Open(strings.NewReader(string(b)), int64(len(b)), bundle.Trust{Root: pub(o.root)}, pub(o.box), s.Have(), t0)
		if !errors.Is(err, bundle.Replay) {
			t.Errorf("version %d after 5: %v, want Replay", n, err)
		}
	}
	// The store's own check, for a caller that verified before.
	if _, err := s.Apply(old, o.box, pub(o.root)); !errors.Is(err, bundle.Replay) {
		t.Errorf("Apply of an older verified bundle: %v, want Replay", err)
	}
	if got := configVersion(t, s); got != 5 {
		t.Errorf("current %d after refusals, want 5", got)
	}
}

func TestApplyRefusesAnotherRoot(t *testing.T) {
	o := newOrg(t)
	s := openStore(t, t.TempDir())
	o.apply(t, s, 1)
	other := &org{root: key("other root"), trainer: key("other trainer"), box: o.box}
	var err error
	other.cert, err = bundle.IssueCertificate(other.root, bundle.Trainer{Serial: 1, Name: "李老师",
		Key: bundle.PublicKeyHex(pub(other.trainer)), NotBefore: t0.AddDate(0, -1, 0), NotAfter: t0.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(other.verify(t, s, other.bundle(t, 2, 100)), o.box, pub(other.root)); !errors.Is(err, bundle.UnknownSigner) {
		t.Fatalf("a bundle of another root: %v, want UnknownSigner", err)
	}
	if got := configVersion(t, s); got != 1 {
		t.Fatalf("current %d", got)
	}
}

func TestRollback(t *testing.T) {
	o := newOrg(t)
	for _, tc := range []struct {
		name string
		// fail makes version 2 fail to come up; it returns what the box
		// starts with next.
		fail func(t *testing.T, dir string) Version
	}{
		{"restart before ready", func(t *testing.T, dir string) Version {
			if _, trial, err := openStore(t, dir).Boot(); !trial || err != nil {
				t.Fatalf("first start: trial=%v %v", trial, err)
			}
			v, trial, err := openStore(t, dir).Boot() // it crashed: the next start
			if trial || err != nil {
				t.Fatalf("second start: trial=%v %v", trial, err)
			}
			return v
		}},
		{"not ready in time", func(t *testing.T, dir string) Version {
			s := openStore(t, dir)
			if _, trial, err := s.Boot(); !trial || err != nil {
				t.Fatalf("start: trial=%v %v", trial, err)
			}
			start := time.Now()
			err := s.Guard(context.Background(), 300*time.Millisecond, make(chan struct{}))
			if !errors.Is(err, ErrRolledBack) {
				t.Fatalf("Guard: %v", err)
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Fatalf("rolled back after %v, the limit was 300ms", took)
			}
			v, trial, err := openStore(t, dir).Boot()
			if trial || err != nil {
				t.Fatalf("start after the rollback: trial=%v %v", trial, err)
			}
			return v
		}},
		{"damaged on the card", func(t *testing.T, dir string) Version {
			s := openStore(t, dir)
			cur, _ := s.Current()
			if err := os.WriteFile(filepath.Join(cur.Dir, "rules", "pack.toml"), []byte("version = 1\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			v, trial, err := s.Boot()
			if trial || err != nil {
				t.Fatalf("start: trial=%v %v", trial, err)
			}
			return v
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			o.apply(t, s, 1)
			if _, _, err := s.Boot(); err != nil {
				t.Fatal(err)
			}
			if err := s.Confirm(); err != nil {
				t.Fatal(err)
			}
			o.apply(t, s, 2)
			v := tc.fail(t, dir)
			s = openStore(t, dir)
			if v.Number != 1 || configVersion(t, s) != 1 || !v.Ready {
				t.Fatalf("after the failure the box starts with %+v, want the confirmed version 1", v)
			}
			out := s.Outcome()
			if out == nil || out.Kind != "rollback" || out.Version != 2 || !strings.Contains(out.Message, "换回原来的设置 (第 1 版)") || out.Reason == "" {
				t.Fatalf("outcome %+v", out)
			}
			// The failed version is not taken again from the stick still
			// in the box.
			if s.Have() != 2 {
				t.Fatalf("Have %d after rolling back version 2, want 2", s.Have())
			}
			if _, err := os.Stat(filepath.Join(dir, VersionsDir, "v2")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the failed version's folder stays: %v", err)
			}
		})
	}
}

func TestFirstBundleRollsBackToFactory(t *testing.T) {
	o := newOrg(t)
	dir := t.TempDir()
	o.apply(t, openStore(t, dir), 1)
	openStore(t, dir).Boot()
	v, trial, err := openStore(t, dir).Boot()
	if err != nil || trial || v.Number != 0 {
		t.Fatalf("second start: %+v trial=%v %v", v, trial, err)
	}
	if _, ok := openStore(t, dir).Current(); ok {
		t.Fatal("a current configuration after rolling back the only one")
	}
}

func TestGuardConfirmsWhenReady(t *testing.T) {
	o := newOrg(t)
	dir := t.TempDir()
	s := openStore(t, dir)
	o.apply(t, s, 1)
	s.Boot()
	ready := make(chan struct{})
	close(ready)
	if err := s.Guard(context.Background(), time.Minute, ready); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Current(); !v.Ready {
		t.Fatal("not confirmed")
	}
}

// A version applied while another is on trial is neither confirmed nor
// rolled back in that one's place: it gets its own trial at the next start.
func TestTrialIsForItsOwnVersion(t *testing.T) {
	o := newOrg(t)
	for _, ready := range []bool{true, false} {
		dir := t.TempDir()
		s := openStore(t, dir)
		o.apply(t, s, 1)
		if _, trial, _ := s.Boot(); !trial {
			t.Fatal("version 1 not on trial")
		}
		o.apply(t, s, 2)
		ch := make(chan struct{})
		if ready {
			close(ch)
		}
		if err := s.Guard(context.Background(), 100*time.Millisecond, ch); err != nil {
			t.Fatalf("ready=%v: Guard: %v", ready, err)
		}
		v, ok := s.Current()
		if !ok || v.Number != 2 || v.Ready {
			t.Fatalf("ready=%v: current %+v, want version 2 untouched", ready, v)
		}
		if _, trial, _ := openStore(t, dir).Boot(); !trial {
			t.Fatalf("ready=%v: version 2 not on trial at the next start", ready)
		}
	}
}
