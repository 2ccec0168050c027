package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cunbo/cunbo/firmware/atomicfile"
	"github.com/cunbo/cunbo/firmware/provision"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/firmware/wifi"
)

// WiFi is the box's Wi-Fi: the setup bundle's networks written for
// NetworkManager, and the setup hotspot with its page.
type WiFi struct {
	M      wifi.Manager
	Keeper *wifi.Keeper
	// Interval between the keeper's checks (default 10 s).
	Interval time.Duration
	// mark is the file naming the setup version whose networks were
	// written, so a start does not rewrite (and drop) the link.
	mark string
}

// NewWiFi sets up the box's Wi-Fi over m with the hotspot label from key;
// stateDir keeps which bundle's networks are written.
func NewWiFi(m wifi.Manager, key ed25519.PrivateKey, stateDir string, log *slog.Logger) *WiFi {
	return &WiFi{M: m, mark: filepath.Join(stateDir, "provision", "wifi-applied"),
		Keeper: &wifi.Keeper{M: m, Label: wifi.LabelFor(key), Logger: log}}
}

// boxWiFi is the real box's: nmcli when NetworkManager runs, else none
// (a development machine, the simulator).
func boxWiFi(key ed25519.PrivateKey, stateDir string, log *slog.Logger) *WiFi {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !wifi.Available(ctx) {
		log.Info("no NetworkManager: Wi-Fi from bundles and the setup hotspot are off")
		return nil
	}
	return NewWiFi(&wifi.NMCLI{Logger: log}, key, stateDir, log)
}

// applyVersion writes version v's Wi-Fi networks unless they were written
// already.
func (w *WiFi) applyVersion(ctx context.Context, v provision.Version, log *slog.Logger) error {
	if v.Number == 0 {
		return nil
	}
	if b, err := os.ReadFile(w.mark); err == nil && strings.TrimSpace(string(b)) == strconv.FormatUint(v.Number, 10) {
		return nil
	}
	sec, err := v.Secrets()
	if err != nil {
		return fmt.Errorf("app: wifi: %w", err)
	}
	if err := wifi.Apply(ctx, w.M, sec.WiFi, log); err != nil {
		// The others are written; the mark stays, or a bad network in
		// the bundle would rewrite the good ones at every start.
		log.Error("some Wi-Fi networks of the setup bundle not written", "version", v.Number, "err", err)
	}
	if err := atomicfile.WriteFile(w.mark, []byte(strconv.FormatUint(v.Number, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("app: wifi: %w", err)
	}
	return nil
}

// WiFiView implements web.WiFiSetup.
func (w *WiFi) WiFiView() web.WiFiView {
	v := w.Keeper.View()
	out := web.WiFiView{Hotspot: v.Hotspot, SSID: v.SSID, Joining: v.Joining, Nearby: make([]web.WiFiNearby, 0, len(v.Nearby))}
	for _, ap := range v.Nearby {
		out.Nearby = append(out.Nearby, web.WiFiNearby{SSID: ap.SSID, Signal: ap.Signal, Secured: ap.Secured})
	}
	if l := v.Last; l != nil {
		out.Last = &web.WiFiResult{SSID: l.SSID, OK: l.OK, At: l.At, Message: l.Message}
	}
	return out
}

// JoinWiFi implements web.WiFiSetup.
func (w *WiFi) JoinWiFi(ssid, password string) error {
	err := w.Keeper.Join(ssid, password)
	if ie, ok := errors.AsType[*wifi.InputError](err); ok {
		return web.WiFiRefusal(ie.Msg)
	}
	if errors.Is(err, wifi.ErrBusy) {
		return web.ErrWiFiBusy
	}
	return err
}

// webWiFi is the phone page's part; nil (not a nil *WiFi) for none.
func (a *App) webWiFi() web.WiFiSetup {
	if p := a.opts.Provision; p != nil && p.WiFi != nil {
		return p.WiFi
	}
	return nil
}

// runWiFi writes the current setup version's networks, then keeps the
// hotspot's decisions going while the box runs.
func (a *App) runWiFi(ctx context.Context, w *WiFi, v provision.Version) error {
	log := a.log.With("part", "wifi")
	if err := w.applyVersion(ctx, v, log); err != nil {
		log.Error("Wi-Fi networks of the setup bundle", "err", err)
	}
	w.Keeper.Idle = func() bool { return a.Box.Status().State == state.Idle }
	if w.Keeper.Logger == nil {
		w.Keeper.Logger = log
	}
	return w.Keeper.Run(ctx, w.Interval)
}
