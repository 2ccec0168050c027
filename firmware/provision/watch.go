package provision

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/hw"
)

// Gate says when the box may take a bundle: only while idle, never while
// she is live or starting.
type Gate interface {
	// WaitIdle returns once the box is idle, or ctx's error.
	WaitIdle(ctx context.Context) error
}

// Flasher is the status LED (hw.StatusLED).
type Flasher interface {
	Flash(name string) error
}

// WatcherOptions configure a Watcher.
type WatcherOptions struct {
	Store *Store
	Stick Stick
	// Key is the box's own key: bundles must name it, and it opens their
	// secrets.
	Key  ed25519.PrivateKey
	Idle Gate
	LED  Flasher // nil: no LED
	// Interval between looks at the stick; default 3 s.
	Interval time.Duration
	// Applied is called once a bundle is switched in: the box restarts
	// to use it.
	Applied func(Version)
	// OnOutcome is called with every outcome (the phone page refreshes).
	OnOutcome func(Outcome)
	Now       func() time.Time
	Logger    *slog.Logger
}

// Watcher applies bundles found on a USB stick while the box is idle.
type Watcher struct {
	o    WatcherOptions
	seen map[string]bool // bundles taken from the stick in the box now
}

// NewWatcher checks o.
func NewWatcher(o WatcherOptions) (*Watcher, error) {
	if o.Store == nil || o.Stick == nil || o.Idle == nil || len(o.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("provision: a watcher needs a store, a stick, an idle gate and the box key")
	}
	if o.Interval <= 0 {
		o.Interval = 3 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Watcher{o: o, seen: map[string]bool{}}, nil
}

// Run looks at the stick until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		if err := w.Once(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Once looks at the stick once and takes the bundles new on it, waiting
// for the box to be idle first. Only ctx's end is an error: whatever is
// wrong with a stick or bundle becomes an outcome.
func (w *Watcher) Once(ctx context.Context) error {
	dirs, release, err := w.o.Stick.Scan(ctx)
	if err != nil {
		w.o.Logger.Warn("provision: stick", "err", err)
		return nil
	}
	defer release()
	present := map[string]bool{}
	var fresh []string
	for _, d := range dirs {
		for _, p := range bundlesIn(d) {
			fi, err := os.Stat(p)
			if err != nil {
				continue
			}
			id := fmt.Sprintf("%s|%d|%d", p, fi.Size(), fi.ModTime().UnixNano())
			present[id] = true
			if !w.seen[id] {
				fresh = append(fresh, p+"\x00"+id)
			}
		}
	}
	// A stick taken out and put back is looked at afresh.
	for id := range w.seen {
		if !present[id] {
			delete(w.seen, id)
		}
	}
	for _, f := range fresh {
		path, id, _ := strings.Cut(f, "\x00")
		if err := w.o.Idle.WaitIdle(ctx); err != nil {
			return err
		}
		w.seen[id] = true
		if v, ok := w.take(path); ok {
			if w.o.Applied != nil {
				w.o.Applied(v)
			}
			return nil
		}
	}
	return nil
}

// take verifies and applies one bundle file; the outcome is kept and
// shown whatever happens.
func (w *Watcher) take(path string) (Version, bool) {
	log := w.o.Logger.With("bundle", path)
	v, err := w.apply(path)
	if errors.Is(err, errInUse) {
		// The stick left in through the restart that bundle asked for:
		// nothing to say, the phone page keeps "✅ 新设置已用上".
		log.Info("provision: the bundle on the stick is the one in use")
		return Version{}, false
	}
	if err != nil {
		out := Outcome{At: w.o.Now(), Message: "❌ 设置没换成：请培训老师看看", Reason: err.Error()}
		if be, ok := errors.AsType[*bundle.Error](err); ok {
			out.Kind, out.Message = string(be.Kind), "❌ "+be.Message()
		} else if errors.Is(err, ErrNoRoot) {
			out.Kind, out.Message = "no_root", "❌ 这台盒子第一次设置，U盘上要有机构的 root.pub 文件"
		}
		log.Error("provision: bundle refused", "kind", out.Kind, "reason", out.Reason)
		w.flash(hw.PatternBundleRefused)
		if err := w.o.Store.SetOutcome(out); err != nil {
			log.Error("provision: outcome not kept", "err", err)
		}
		w.tell(out)
		return Version{}, false
	}
	w.flash(hw.PatternBundle)
	if out := w.o.Store.Outcome(); out != nil {
		w.tell(*out)
	}
	return v, true
}

func (w *Watcher) apply(path string) (Version, error) {
	store := w.o.Store
	trust, ok, err := store.Trust()
	if err != nil {
		return Version{}, err
	}
	if !ok {
		// Trust on first use, from the stick in her hands only.
		data, err := os.ReadFile(filepath.Join(filepath.Dir(path), RootFile))
		if err != nil {
			return Version{}, fmt.Errorf("%w: %w", ErrNoRoot, err)
		}
		root, err := bundle.ParsePublicKeyHex(strings.TrimSpace(string(data)))
		if err != nil {
			return Version{}, fmt.Errorf("%w: %s: %w", ErrNoRoot, RootFile, err)
		}
		trust = bundle.Trust{Root: root}
	}
	f, err := os.Open(path)
	if err != nil {
		return Version{}, fmt.Errorf("provision: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Version{}, fmt.Errorf("provision: %w", err)
	}
	self := w.o.Key.Public().(ed25519.PublicKey)
	have := store.Have()
	v, err := bundle.Open(f, fi.Size(), trust, self, have, w.o.Now())
	if errors.Is(err, bundle.Replay) && have > 0 {
		// Not newer: the very bundle the box has (a stick still in after
		// the restart it asked for; or the one just tried and rolled
		// back) is no refusal, its outcome is on the phone page already.
		// An older one is refused.
		if same, serr := bundle.Open(f, fi.Size(), trust, self, have-1, w.o.Now()); serr == nil && same.Manifest.Version == have {
			return Version{}, errInUse
		}
	}
	if err != nil {
		return Version{}, err
	}
	return store.Apply(v, w.o.Key, trust.Root)
}

// errInUse: the bundle is the newest version the box has taken.
var errInUse = errors.New("provision: bundle already in use")

func (w *Watcher) flash(pattern string) {
	if w.o.LED == nil {
		return
	}
	if err := w.o.LED.Flash(pattern); err != nil {
		w.o.Logger.Warn("provision: led", "err", err)
	}
}

func (w *Watcher) tell(o Outcome) {
	if w.o.OnOutcome != nil {
		w.o.OnOutcome(o)
	}
}
