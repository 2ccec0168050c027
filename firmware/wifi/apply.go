package wifi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cunbo/cunbo/bundle"
)

// Priorities: a network she typed on the hotspot page is her newest router
// and comes first; a bundle's come in the trainer's order below it.
const (
	JoinPriority   = 100
	BundlePriority = 50
)

// Apply writes a bundle's Wi-Fi networks for NetworkManager, one
// connection each (cunbo-<ssid>), connecting by themselves, the first
// listed preferred. A network that cannot be written is skipped and
// reported; the others are still written. Networks written before and not
// in this bundle stay: one may be the router she set up herself.
func Apply(ctx context.Context, m Manager, nets []bundle.WiFi, log *slog.Logger) error {
	var errs []error
	for i, w := range nets {
		n := Network{SSID: w.SSID, PSK: w.Password, Priority: max(BundlePriority-i, 1)}
		if err := m.PutWiFi(ctx, ConnectionName(w.SSID), n); err != nil {
			errs = append(errs, fmt.Errorf("network %d (%q): %w", i+1, w.SSID, err))
			continue
		}
		log.Info("wifi network written", "ssid", w.SSID, "priority", n.Priority)
	}
	return errors.Join(errs...)
}
