package provision

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/hw"
)

// FetchPath is the review service's endpoint for a box's newest published
// bundle (review/README.md, "Setup bundles"): 200 with the bundle when one
// newer than ?have= was published for this box, 204 when none is.
const FetchPath = "api/box/bundle"

// Downloader is the box's signed-in client of the review service
// (*upload.BoxClient).
type Downloader interface {
	Download(ctx context.Context, path string, w io.Writer, max int64) (http.Header, bool, error)
}

// FetcherOptions configure a Fetcher; Store, Key, Idle, LED, Applied,
// OnOutcome, Now and Logger are as for a Watcher.
type FetcherOptions struct {
	Store  *Store
	Client Downloader
	Key    ed25519.PrivateKey
	Idle   Gate
	LED    Flasher
	// Interval between asks; default 15 minutes: a trainer's change can
	// wait that long, a rural uplink should not carry polls.
	Interval  time.Duration
	Applied   func(Version)
	OnOutcome func(Outcome)
	Now       func() time.Time
	Logger    *slog.Logger
}

// Fetcher takes bundles published for this box by the review service, the
// network path beside the USB stick. It only asks while the box is idle,
// and a box that trusts no root yet takes nothing from the network: the
// first root comes from a stick in the trainer's hands.
type Fetcher struct {
	o FetcherOptions
	// refused is the newest version this box refused: it is not
	// downloaded again every interval, only a newer one.
	refused uint64
}

// NewFetcher checks o.
func NewFetcher(o FetcherOptions) (*Fetcher, error) {
	if o.Store == nil || o.Client == nil || o.Idle == nil || len(o.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("provision: a fetcher needs a store, a client, an idle gate and the box key")
	}
	if o.Interval <= 0 {
		o.Interval = 15 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Fetcher{o: o}, nil
}

// Run asks once per interval until ctx ends or a bundle is applied (then
// the box restarts to use it, and Run returns nil).
func (f *Fetcher) Run(ctx context.Context) error {
	t := time.NewTicker(f.o.Interval)
	defer t.Stop()
	for {
		applied, err := f.Once(ctx)
		if err != nil || applied {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Once waits for the box to be idle, asks for a newer bundle and applies
// it. Only ctx's end is an error: network trouble is tried again next
// time, and a refused bundle becomes an outcome.
func (f *Fetcher) Once(ctx context.Context) (applied bool, err error) {
	store, log := f.o.Store, f.o.Logger
	trust, ok, err := store.Trust()
	if err != nil || !ok {
		if err != nil {
			log.Warn("provision: fetch: trust", "err", err)
		}
		return false, nil
	}
	if err := f.o.Idle.WaitIdle(ctx); err != nil {
		return false, err
	}
	have := max(store.Have(), f.refused)
	var buf bytes.Buffer
	hdr, got, err := f.o.Client.Download(ctx, FetchPath+"?have="+strconv.FormatUint(have, 10), &buf, bundle.MaxBundleSize)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		log.Info("provision: fetch: no answer, next time", "err", err)
		return false, nil
	}
	if !got {
		return false, nil
	}
	// A download cut or changed on the way is fetched again, not refused:
	// the bundle itself was never looked at.
	sum := sha256.Sum256(buf.Bytes())
	if want := hdr.Get("X-Cunbo-Bundle-Sha256"); want != "" && want != hex.EncodeToString(sum[:]) {
		log.Warn("provision: fetch: download does not match its SHA-256, next time", "bytes", buf.Len())
		return false, nil
	}
	self := f.o.Key.Public().(ed25519.PublicKey)
	v, err := bundle.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), trust, self, have, f.o.Now())
	if err == nil {
		// Downloading may have taken a while: she may be live by now.
		if err := f.o.Idle.WaitIdle(ctx); err != nil {
			return false, err
		}
		var ver Version
		if ver, err = store.Apply(v, f.o.Key, trust.Root); err == nil {
			log.Info("provision: bundle from the review service applied", "version", ver.Number)
			f.flash(hw.PatternBundle)
			if out := store.Outcome(); out != nil {
				f.tell(*out)
			}
			if f.o.Applied != nil {
				f.o.Applied(ver)
			}
			return true, nil
		}
	}
	if n, perr := strconv.ParseUint(hdr.Get("X-Cunbo-Bundle-Version"), 10, 64); perr == nil {
		f.refused = max(f.refused, n)
	}
	out := Outcome{At: f.o.Now(), Message: "❌ 设置没换成：请培训老师看看", Reason: fmt.Sprintf("from the review service: %v", err)}
	if be, ok := errors.AsType[*bundle.Error](err); ok {
		out.Kind, out.Message = string(be.Kind), "❌ "+be.Message()
	}
	log.Error("provision: bundle from the review service refused", "kind", out.Kind, "reason", out.Reason)
	f.flash(hw.PatternBundleRefused)
	if err := store.SetOutcome(out); err != nil {
		log.Error("provision: outcome not kept", "err", err)
	}
	f.tell(out)
	return false, nil
}

func (f *Fetcher) flash(pattern string) {
	if f.o.LED == nil {
		return
	}
	if err := f.o.LED.Flash(pattern); err != nil {
		f.o.Logger.Warn("provision: led", "err", err)
	}
}

func (f *Fetcher) tell(o Outcome) {
	if f.o.OnOutcome != nil {
		f.o.OnOutcome(o)
	}
}
