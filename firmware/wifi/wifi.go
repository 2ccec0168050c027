// Package wifi is the box's Wi-Fi: the networks a setup bundle brings,
// written for NetworkManager (Raspberry Pi OS bookworm), and the setup
// hotspot the box offers when it knows no reachable network, so the seller
// can give it her new router's name and password from her phone.
//
// Manager is the few things the box asks of NetworkManager; NMCLI does them
// with the nmcli command line (no shell, a timeout on every call, terse
// output parsed by ParseTerse), Fake in memory for tests.
//
// # The label
//
// The hotspot's name and password are printed on the box's label. Both come
// from the box's own ed25519 key (LabelFor), so nothing more has to be kept:
// the name is 村播- and the first 4 hex digits of the key's fingerprint
// (bundle.Fingerprint, what the phone page shows), the password 8 digits
// from an HMAC of the private key, so knowing the public key (which the
// trainer and the review service do) does not give the password away.
package wifi

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Connectivity is NetworkManager's idea of the box's link to the world.
type Connectivity string

// NetworkManager's connectivity states (nmcli networking connectivity).
const (
	Full    Connectivity = "full"
	Limited Connectivity = "limited" // a network, but no internet
	Portal  Connectivity = "portal"  // a captive portal
	None    Connectivity = "none"
	Unknown Connectivity = "unknown"
)

// Reachable reports whether the box is on some network: the phone page on
// the LAN works even when the internet beyond the router does not.
func (c Connectivity) Reachable() bool {
	return c == Full || c == Limited || c == Portal
}

// Connection is one saved NetworkManager connection profile.
type Connection struct {
	Name   string
	Type   string // e.g. "802-11-wireless", "802-3-ethernet"
	Active bool
}

// AP is one Wi-Fi network seen in a scan.
type AP struct {
	SSID    string `json:"ssid"`
	Signal  int    `json:"signal"` // 0–100
	Secured bool   `json:"secured"`
}

// Network is a Wi-Fi network the box should join by itself.
type Network struct {
	SSID string
	// PSK is the WPA passphrase; "" for an open network.
	PSK string
	// Priority orders autoconnection: higher first.
	Priority int
}

// Manager is what the box needs of the system's network manager.
type Manager interface {
	// Connections lists the saved connection profiles.
	Connections(ctx context.Context) ([]Connection, error)
	// PutWiFi adds the Wi-Fi connection named name, replacing one of that
	// name, set to connect by itself.
	PutWiFi(ctx context.Context, name string, n Network) error
	// Activate brings the connection named name up and waits for it.
	Activate(ctx context.Context, name string) error
	// Connectivity is the box's link to the world now.
	Connectivity(ctx context.Context) (Connectivity, error)
	// Scan lists the Wi-Fi networks in range, strongest first, each SSID
	// once.
	Scan(ctx context.Context) ([]AP, error)
	// StartHotspot makes the box an access point with ssid and psk.
	StartHotspot(ctx context.Context, ssid, psk string) error
	// StopHotspot ends the access point (no error when there is none).
	StopHotspot(ctx context.Context) error
}

// Prefix names the connections the box writes, so they are told apart from
// the ones the system came with.
const Prefix = "cunbo-"

// HotspotName is the connection profile of the setup hotspot.
const HotspotName = Prefix + "hotspot"

// ConnectionName is the profile a network is written under.
func ConnectionName(ssid string) string { return Prefix + ssid }

// InputError is a network she typed that cannot work; Msg says why in
// plain Chinese.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return "wifi: " + e.Msg }

// ErrInput matches every *InputError with errors.Is.
var ErrInput = errors.New("wifi: bad network")

// Is lets errors.Is(err, ErrInput) find an InputError.
func (e *InputError) Is(target error) bool { return target == ErrInput }

// Check says whether n can be a WPA-PSK (or open) network at all: an SSID
// of 1 to 32 bytes, a passphrase of 8 to 63 printable ASCII characters.
func Check(n Network) error {
	switch {
	case n.SSID == "":
		return &InputError{"请先选一个 Wi-Fi 名字"}
	case len(n.SSID) > 32 || !utf8.ValidString(n.SSID):
		return &InputError{"这个 Wi-Fi 名字太长了"}
	case n.PSK == "":
		return nil
	case len(n.PSK) < 8 || len(n.PSK) > 63:
		return &InputError{fmt.Sprintf("Wi-Fi 密码要 8 到 63 位，现在是 %d 位", utf8.RuneCountInString(n.PSK))}
	}
	for _, r := range n.PSK {
		if r < 0x20 || r > 0x7e {
			return &InputError{"Wi-Fi 密码只能有字母、数字和符号（不能有汉字和空格以外的特殊字）"}
		}
	}
	return nil
}
