package wifi

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cunbo/cunbo/internal/childproc"
)

// Runner runs nmcli with args and returns its standard output. The
// default runs the program directly (never through a shell).
type Runner func(ctx context.Context, args []string) ([]byte, error)

// NMCLI is Manager over the nmcli command line. The service user needs
// NetworkManager's polkit permissions for it (systemd/cunbo-nm.rules, see
// the README).
type NMCLI struct {
	// Path of nmcli; default "nmcli" from PATH.
	Path string
	// Timeout bounds each call; default 20 s. Activate waits up to
	// ActivateWait (default 45 s) besides.
	Timeout      time.Duration
	ActivateWait time.Duration
	// Iface is the Wi-Fi device for the hotspot; default "*" (any).
	Iface string
	// Run replaces running nmcli (tests).
	Run    Runner
	Logger *slog.Logger
}

var _ Manager = (*NMCLI)(nil)

// Available reports whether nmcli can be run and NetworkManager answers.
func Available(ctx context.Context) bool {
	if _, err := exec.LookPath("nmcli"); err != nil {
		return false
	}
	n := &NMCLI{Timeout: 5 * time.Second}
	out, err := n.run(ctx, n.Timeout, []string{"-t", "-f", "RUNNING", "general"})
	return err == nil && strings.TrimSpace(string(out)) == "running"
}

func (n *NMCLI) log() *slog.Logger {
	if n.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.Logger
}

// run runs nmcli; args holding a secret must say so in redact (the
// positions to hide in errors and logs).
func (n *NMCLI) run(ctx context.Context, timeout time.Duration, args []string, redact ...int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(timeout, n.Timeout, 20*time.Second))
	defer cancel()
	shown := slices.Clone(args)
	for _, i := range redact {
		shown[i] = "****"
	}
	n.log().Debug("nmcli", "args", shown)
	run := n.Run
	if run == nil {
		run = n.exec
	}
	out, err := run(ctx, args)
	if err != nil {
		return out, fmt.Errorf("wifi: nmcli %s: %w", strings.Join(shown, " "), err)
	}
	return out, nil
}

func (n *NMCLI) exec(ctx context.Context, args []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, cmp.Or(n.Path, "nmcli"), args...)
	// English, machine-stable output whatever the box's locale.
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	if err := childproc.Run(cmd); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return stdout.Bytes(), fmt.Errorf("%w: %s", err, msg)
	}
	return stdout.Bytes(), nil
}

// Arguments, one builder per call, so that tests see exactly what nmcli
// gets.

func connectionsArgs() []string {
	return []string{"-t", "-f", "NAME,TYPE,ACTIVE", "connection", "show"}
}

func deleteArgs(name string) []string { return []string{"connection", "delete", "id", name} }

// putWiFiArgs adds a Wi-Fi profile. The PSK is the last argument (index
// len-1) when there is one, so run can hide it.
func putWiFiArgs(name string, nw Network) []string {
	args := []string{"connection", "add", "type", "wifi", "ifname", "*", "con-name", name,
		"ssid", nw.SSID, "connection.autoconnect", "yes",
		"connection.autoconnect-priority", strconv.Itoa(nw.Priority)}
	if nw.PSK != "" {
		args = append(args, "wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.psk", nw.PSK)
	}
	return args
}

func activateArgs(name string, wait time.Duration) []string {
	return []string{"--wait", strconv.Itoa(int(wait / time.Second)), "connection", "up", "id", name}
}

func connectivityArgs() []string { return []string{"-t", "networking", "connectivity"} }

func scanArgs(rescan bool) []string {
	r := "no"
	if rescan {
		r = "yes"
	}
	return []string{"-t", "-f", "SSID,SIGNAL,SECURITY", "device", "wifi", "list", "--rescan", r}
}

// hotspotArgs adds the hotspot profile; its PSK is the last argument.
// NetworkManager's "shared" method hands her phone an address (10.42.0.x)
// and the box is 10.42.0.1.
func hotspotArgs(iface, ssid, psk string) []string {
	return []string{"connection", "add", "type", "wifi", "ifname", cmp.Or(iface, "*"), "con-name", HotspotName,
		"ssid", ssid, "connection.autoconnect", "no",
		"802-11-wireless.mode", "ap", "802-11-wireless.band", "bg", "ipv4.method", "shared",
		"ipv6.method", "disabled", "wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.proto", "rsn", "wifi-sec.psk", psk}
}

func downArgs(name string) []string { return []string{"connection", "down", "id", name} }

// Connections implements Manager.
func (n *NMCLI) Connections(ctx context.Context) ([]Connection, error) {
	out, err := n.run(ctx, 0, connectionsArgs())
	if err != nil {
		return nil, err
	}
	return parseConnections(out)
}

func parseConnections(out []byte) ([]Connection, error) {
	rows, err := parseLines(out, 3)
	if err != nil {
		return nil, err
	}
	cs := make([]Connection, 0, len(rows))
	for _, r := range rows {
		cs = append(cs, Connection{Name: r[0], Type: r[1], Active: r[2] == "yes"})
	}
	return cs, nil
}

// PutWiFi implements Manager: the old profile of that name goes first, so
// a changed password replaces the old one instead of adding a twin.
//
// The passphrase is in nmcli's argv for the moment the call lasts:
// passwd-file only feeds secrets to an activation, and a bundle's networks
// are mostly out of range when written. The box has no other login users,
// and the passphrase is never logged.
func (n *NMCLI) PutWiFi(ctx context.Context, name string, nw Network) error {
	if err := Check(nw); err != nil {
		return err
	}
	if err := n.delete(ctx, name); err != nil {
		return err
	}
	args := putWiFiArgs(name, nw)
	var redact []int
	if nw.PSK != "" {
		redact = []int{len(args) - 1}
	}
	_, err := n.run(ctx, 0, args, redact...)
	return err
}

func (n *NMCLI) delete(ctx context.Context, name string) error {
	cs, err := n.Connections(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Name == name {
			if _, err := n.run(ctx, 0, deleteArgs(name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Activate implements Manager.
func (n *NMCLI) Activate(ctx context.Context, name string) error {
	wait := cmp.Or(n.ActivateWait, 45*time.Second)
	_, err := n.run(ctx, wait+cmp.Or(n.Timeout, 20*time.Second), activateArgs(name, wait))
	return err
}

// Connectivity implements Manager.
func (n *NMCLI) Connectivity(ctx context.Context) (Connectivity, error) {
	out, err := n.run(ctx, 0, connectivityArgs())
	if err != nil {
		return Unknown, err
	}
	return parseConnectivity(out)
}

func parseConnectivity(out []byte) (Connectivity, error) {
	switch c := Connectivity(strings.TrimSpace(string(out))); c {
	case Full, Limited, Portal, None, Unknown:
		return c, nil
	default:
		return Unknown, fmt.Errorf("wifi: unknown connectivity %q", c)
	}
}

// Scan implements Manager. Many Wi-Fi chips (the Raspberry Pi's among
// them) cannot scan while they are an access point; then the list nmcli
// kept from before is what there is.
func (n *NMCLI) Scan(ctx context.Context) ([]AP, error) {
	out, err := n.run(ctx, 30*time.Second, scanArgs(true))
	if err != nil {
		var err2 error
		if out, err2 = n.run(ctx, 0, scanArgs(false)); err2 != nil {
			return nil, errors.Join(err, err2)
		}
	}
	return parseScan(out)
}

func parseScan(out []byte) ([]AP, error) {
	rows, err := parseLines(out, 3)
	if err != nil {
		return nil, err
	}
	best := map[string]AP{}
	for _, r := range rows {
		if r[0] == "" { // a hidden network: she cannot pick it by name
			continue
		}
		sig, err := strconv.Atoi(r[1])
		if err != nil || sig < 0 || sig > 100 {
			return nil, fmt.Errorf("wifi: scan: signal %q of %q", r[1], r[0])
		}
		sec := r[2] != "" && r[2] != "--"
		if old, ok := best[r[0]]; !ok || sig > old.Signal {
			best[r[0]] = AP{SSID: r[0], Signal: sig, Secured: sec}
		}
	}
	return sortAPs(best), nil
}

func sortAPs(m map[string]AP) []AP {
	aps := make([]AP, 0, len(m))
	for _, a := range m {
		aps = append(aps, a)
	}
	slices.SortFunc(aps, func(a, b AP) int {
		return cmp.Or(cmp.Compare(b.Signal, a.Signal), strings.Compare(a.SSID, b.SSID))
	})
	return aps
}

// StartHotspot implements Manager. Its password is printed on the box's
// label, so argv is no secret to keep.
func (n *NMCLI) StartHotspot(ctx context.Context, ssid, psk string) error {
	if err := Check(Network{SSID: ssid, PSK: psk}); err != nil {
		return err
	}
	if err := n.delete(ctx, HotspotName); err != nil {
		return err
	}
	args := hotspotArgs(n.Iface, ssid, psk)
	if _, err := n.run(ctx, 0, args, len(args)-1); err != nil {
		return err
	}
	return n.Activate(ctx, HotspotName)
}

// StopHotspot implements Manager.
func (n *NMCLI) StopHotspot(ctx context.Context) error {
	cs, err := n.Connections(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Name == HotspotName && c.Active {
			_, err := n.run(ctx, 0, downArgs(HotspotName))
			return err
		}
	}
	return nil
}
