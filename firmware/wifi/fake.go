package wifi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Fake is a Manager in memory, for tests: a world of routers in range
// (Routers, SSID → passphrase) that a saved network joins when its
// passphrase matches. Its fields are read and set under its own lock
// through its methods; set them before use.
type Fake struct {
	mu sync.Mutex
	// Routers are the networks in range and their passphrases.
	Routers map[string]string
	// Wired: the box has a link whatever Wi-Fi does.
	Wired bool
	// ScanErr, when set, is what Scan returns (a chip busy as an AP).
	ScanErr error

	saved   map[string]Network
	active  string // the connection up, "" for none
	hotspot struct {
		on        bool
		ssid, psk string
	}
	calls []string
}

var _ Manager = (*Fake)(nil)

func (f *Fake) note(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// SetRouters replaces the routers in range (her router changed).
func (f *Fake) SetRouters(r map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Routers = maps.Clone(r)
	if f.active != "" && f.active != HotspotName {
		n := f.saved[f.active]
		if psk, ok := f.Routers[n.SSID]; !ok || psk != n.PSK {
			f.active = ""
		}
	}
}

// Calls lists what was asked of the fake, passwords left out.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Saved is the network saved under name.
func (f *Fake) Saved(name string) (Network, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.saved[name]
	return n, ok
}

// Hotspot reports whether the hotspot is up, with its name and password.
func (f *Fake) Hotspot() (on bool, ssid, psk string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hotspot.on, f.hotspot.ssid, f.hotspot.psk
}

// Active is the connection up ("" for none).
func (f *Fake) Active() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active
}

// Connections implements Manager.
func (f *Fake) Connections(context.Context) ([]Connection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var cs []Connection
	for _, name := range slices.Sorted(maps.Keys(f.saved)) {
		cs = append(cs, Connection{Name: name, Type: "802-11-wireless", Active: f.active == name})
	}
	return cs, nil
}

// PutWiFi implements Manager.
func (f *Fake) PutWiFi(_ context.Context, name string, n Network) error {
	if err := Check(n); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.saved == nil {
		f.saved = map[string]Network{}
	}
	f.saved[name] = n
	f.note("put %s ssid=%s priority=%d", name, n.SSID, n.Priority)
	return nil
}

// Activate implements Manager: a saved network joins when its router is in
// range with that passphrase; the radio leaves the hotspot either way.
func (f *Fake) Activate(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.note("up %s", name)
	n, ok := f.saved[name]
	if !ok {
		return fmt.Errorf("wifi fake: no connection %q", name)
	}
	f.hotspot.on = false
	if psk, ok := f.Routers[n.SSID]; !ok || psk != n.PSK {
		f.active = ""
		return errors.New("wifi fake: activation failed: secrets were required, but not provided")
	}
	f.active = name
	return nil
}

// Connectivity implements Manager.
func (f *Fake) Connectivity(context.Context) (Connectivity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.note("connectivity")
	if f.Wired || (f.active != "" && f.active != HotspotName) {
		return Full, nil
	}
	return None, nil
}

// Scan implements Manager.
func (f *Fake) Scan(context.Context) ([]AP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.note("scan")
	if f.ScanErr != nil {
		return nil, f.ScanErr
	}
	m := map[string]AP{}
	sig := 90
	for _, ssid := range slices.Sorted(maps.Keys(f.Routers)) {
		m[ssid] = AP{SSID: ssid, Signal: sig, Secured: f.Routers[ssid] != ""}
		sig -= 10
	}
	return sortAPs(m), nil
}

// StartHotspot implements Manager.
func (f *Fake) StartHotspot(_ context.Context, ssid, psk string) error {
	if err := Check(Network{SSID: ssid, PSK: psk}); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.note("hotspot on %s", ssid)
	f.hotspot.on, f.hotspot.ssid, f.hotspot.psk = true, ssid, psk
	f.active = HotspotName
	return nil
}

// StopHotspot implements Manager.
func (f *Fake) StopHotspot(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hotspot.on {
		f.note("hotspot off")
	}
	f.hotspot.on = false
	if f.active == HotspotName {
		f.active = ""
	}
	return nil
}
