package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/firmware/config"
	"github.com/cunbo/cunbo/firmware/provision"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/firmware/web"
)

// ErrRestart is Run's error when the box must start again to use another
// configuration: a bundle was applied, or a new one did not come up and
// was rolled back. `cunbo run` exits and systemd starts it again.
var ErrRestart = errors.New("app: restarting to use another configuration")

// StickGlobs are where the system mounts USB sticks for the box to look
// at (read-only, by a mount unit or the desktop): the box service itself
// may not mount anything.
var StickGlobs = []string{"/media/cunbo-stick", "/media/*/*", "/run/media/*/*"}

// Provisioning is the box's setup bundles: the store of applied
// configurations, the stick it takes new ones from, and the trial of a
// configuration new at this start.
type Provisioning struct {
	Store *provision.Store
	Key   ed25519.PrivateKey
	// Stick is watched while idle; nil: no stick.
	Stick provision.Stick
	// Trial: the configuration in use is new. Run confirms it once the
	// box is ready, or rolls it back after ReadyWithin.
	Trial       bool
	ReadyWithin time.Duration
	// Interval between looks at the stick (default 3 s).
	Interval time.Duration
	// FetchInterval is between asks of the review service for a newer
	// bundle (default provision.FetcherOptions'); the first ask is as
	// soon as the box is ready and idle.
	FetchInterval time.Duration
	// WiFi writes the bundle's networks and keeps the setup hotspot
	// (wifi.go); nil: no NetworkManager.
	WiFi *WiFi

	fingerprint, qr, enrol string
}

// OpenProvisioning opens the store in stateDir/provision with the box key
// from stateDir (the uploader's), and boots it: a configuration that did
// not come up at the last start is rolled back here.
func OpenProvisioning(stateDir string, stick provision.Stick, log *slog.Logger) (*Provisioning, provision.Version, bool, error) {
	key, err := upload.LoadOrCreateKey(stateDir)
	if err != nil {
		return nil, provision.Version{}, false, fmt.Errorf("app: %w", err)
	}
	s, err := provision.Open(provision.Options{Dir: filepath.Join(stateDir, "provision"), Logger: log})
	if err != nil {
		return nil, provision.Version{}, false, fmt.Errorf("app: %w", err)
	}
	v, trial, err := s.Boot()
	if err != nil {
		return nil, provision.Version{}, false, fmt.Errorf("app: %w", err)
	}
	p := &Provisioning{Store: s, Key: key, Stick: stick, Trial: trial}
	p.WiFi = boxWiFi(key, stateDir, log)
	pub := key.Public().(ed25519.PublicKey)
	p.fingerprint, p.enrol = bundle.Fingerprint(pub), bundle.EnrolText(pub)
	if p.qr, err = provision.QRDataURI(bundle.EnrolText(pub)); err != nil {
		log.Warn("no QR code of the box key", "err", err)
	}
	return p, v, v.Number != 0, nil
}

// LoadConfig reads the box's configuration: the factory file at path, or,
// once a setup bundle was applied, that version's config.toml with its
// secrets laid over (PIN, stream keys) and its catalogue and rule pack
// found in its folder. The state folder stays the factory file's. A
// bundled configuration that does not load is rolled back at once.
func LoadConfig(path string, stick provision.Stick, log *slog.Logger) (*config.Config, []*config.FieldError, *Provisioning, error) {
	cfg, warnings, err := config.Load(path)
	if err != nil {
		return nil, nil, nil, err
	}
	for {
		p, v, ok, err := OpenProvisioning(cfg.StateDir, stick, log)
		if err != nil {
			// Bundles are not worth a box that cannot stream.
			log.Error("setup bundles off", "err", err)
			return cfg, warnings, nil, nil
		}
		if !ok {
			return cfg, warnings, p, nil
		}
		bc, bw, err := versionConfig(cfg.StateDir, v)
		if err == nil {
			log.Info("configuration from a setup bundle", "version", v.Number, "trial", p.Trial)
			return bc, bw, p, nil
		}
		if rerr := p.Store.Rollback(err.Error()); rerr != nil {
			return nil, nil, nil, fmt.Errorf("app: %w", errors.Join(err, rerr))
		}
	}
}

func versionConfig(stateDir string, v provision.Version) (*config.Config, []*config.FieldError, error) {
	cfg, warnings, err := config.Load(v.ConfigPath())
	if err != nil {
		return nil, nil, fmt.Errorf("version %d: %w", v.Number, err)
	}
	sec, err := v.Secrets()
	if err != nil {
		return nil, nil, err
	}
	cfg.StateDir = stateDir
	// The bundle's catalogue and rule pack are the box's: its
	// configuration cannot know the folder they land in.
	over := map[string]bool{}
	if c := bundleCatalogue(v.Dir); c != "" {
		cfg.Catalogue, over["catalogue"] = c, true
	}
	if fi, err := os.Stat(filepath.Join(v.Dir, bundle.RulesDir)); err == nil && fi.IsDir() {
		cfg.RulePack, over["rule_pack"] = filepath.Join(v.Dir, bundle.RulesDir), true
	}
	warnings = slices.DeleteFunc(warnings, func(fe *config.FieldError) bool { return over[fe.Key] })
	if sec.PIN != "" {
		cfg.PIN = sec.PIN
	}
	for i := range cfg.Dest {
		if k, ok := sec.StreamKeys[cfg.Dest[i].Name]; ok {
			cfg.Dest[i].Key = k
		}
	}
	return cfg, warnings, nil
}

// bundleCatalogue is the spreadsheet at the top of a version's catalogue
// folder ("" for none).
func bundleCatalogue(dir string) string {
	des, err := os.ReadDir(filepath.Join(dir, bundle.CatalogueDir))
	if err != nil {
		return ""
	}
	for _, de := range des {
		switch strings.ToLower(filepath.Ext(de.Name())) {
		case ".xlsx", ".csv", ".tsv":
			if de.Type().IsRegular() {
				return filepath.Join(dir, bundle.CatalogueDir, de.Name())
			}
		}
	}
	return ""
}

// bundleDownloadTimeout bounds one bundle download: the largest bundle
// (bundle.MaxBundleSize, 64 MiB) over a weak village uplink of about
// 256 kbit/s takes some 35 minutes, and a link that stalls for good must
// still give the box back to the next ask.
const bundleDownloadTimeout = 45 * time.Minute

// NewBundleClient is the box's signed-in client of the review service at
// url for setup bundles, with the box key from stateDir.
func NewBundleClient(url, stateDir string) (*upload.BoxClient, error) {
	key, err := upload.LoadOrCreateKey(stateDir)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	c, err := upload.NewBoxClient(url, key, &http.Client{Timeout: bundleDownloadTimeout})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return c, nil
}

// setup is the phone page's part; with the review service's address, it
// links to the console's page that adds this box.
func (p *Provisioning) setup(reviewURL string) *web.Setup {
	su := &web.Setup{Fingerprint: p.fingerprint, QR: p.qr, Enrol: p.enrol}
	if reviewURL != "" {
		su.EnrolURL = strings.TrimSuffix(reviewURL, "/") + "/console/boxes/enrol?key=" + url.QueryEscape(p.enrol)
	}
	if v, ok := p.Store.Current(); ok {
		su.Version = v.Number
	}
	if t, ok, err := p.Store.Trust(); ok && err == nil {
		su.Trust = "只用培训老师（编号 " + bundle.Fingerprint(t.Root) + "）做的设置"
	} else {
		// She reads this: no file names, no words of the trade.
		su.Trust = "还没有培训老师的设置（第一次要用U盘）"
	}
	if o := p.Store.Outcome(); o != nil {
		at := o.At
		su.Outcome, su.OutcomeOK, su.OutcomeAt = o.Message, o.OK, &at
	}
	return su
}

// idleGate waits for the box to be idle: bundles are never applied while
// she is live or starting.
type idleGate struct{ a *App }

func (g idleGate) WaitIdle(ctx context.Context) error {
	ch, stop := g.a.Box.Subscribe()
	defer stop()
	for g.a.Box.Status().State != state.Idle {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-ch:
			if !ok {
				return errors.New("app: box stopped")
			}
		}
	}
	return nil
}

// runProvisioning watches the stick, asks the review service for bundles
// (when one is configured) and guards a trial; it returns
// ErrRestart when the box must start again with another configuration.
func (a *App) runProvisioning(ctx context.Context, ready <-chan struct{}) error {
	p := a.opts.Provision
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errc := make(chan error, 4)
	n := 0
	if p.Trial {
		n++
		go func() {
			err := p.Store.Guard(ctx, p.ReadyWithin, ready)
			if errors.Is(err, provision.ErrRolledBack) {
				err = ErrRestart
			}
			errc <- err
		}()
	}
	if p.WiFi != nil {
		n++
		v, _ := p.Store.Current()
		go func() { errc <- a.runWiFi(ctx, p.WiFi, v) }()
	}
	// Both paths restart the same way once a bundle is in: the restart
	// waits for idle too, she may have pressed 开播 while it was written.
	applied := func(provision.Version) {
		go func() {
			if (idleGate{a}).WaitIdle(ctx) == nil {
				cancel(ErrRestart)
			}
		}()
	}
	// afterReady runs f once the box is ready: a bundle applied during a
	// trial would be confirmed, or rolled back, in its place.
	afterReady := func(f func(context.Context) error) {
		n++
		go func() {
			select {
			case <-ready:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
			err := f(ctx)
			if c := context.Cause(ctx); errors.Is(c, ErrRestart) {
				err = c
			}
			errc <- err
		}()
	}
	if a.opts.Bundles != nil {
		f, err := provision.NewFetcher(provision.FetcherOptions{
			Store: p.Store, Client: a.opts.Bundles, Key: p.Key, Idle: idleGate{a}, LED: a.opts.Panel.LED,
			Interval: p.FetchInterval, Logger: a.log.With("part", "provision-fetch"), Applied: applied,
		})
		if err != nil {
			return fmt.Errorf("app: %w", err)
		}
		afterReady(func(ctx context.Context) error {
			err := f.Run(ctx)
			if err == nil {
				// Applied: wait for the restart rather than end the
				// other parts with a nil error.
				<-ctx.Done()
				return ctx.Err()
			}
			return err
		})
	}
	if p.Stick != nil {
		w, err := provision.NewWatcher(provision.WatcherOptions{
			Store: p.Store, Stick: p.Stick, Key: p.Key, Idle: idleGate{a}, LED: a.opts.Panel.LED,
			Interval: p.Interval, Logger: a.log.With("part", "provision"), Applied: applied,
		})
		if err != nil {
			return fmt.Errorf("app: %w", err)
		}
		afterReady(w.Run)
	}
	var first error
	for range n {
		err := <-errc
		if err != nil && first == nil && !errors.Is(err, context.Canceled) {
			first = err
			cancel(err)
		}
	}
	if first == nil {
		return ctx.Err()
	}
	return first
}
