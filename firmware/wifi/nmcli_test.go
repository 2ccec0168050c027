package wifi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// script is a Runner that records every argv and answers from a table
// keyed by the argv's first words.
type script struct {
	calls   [][]string
	answers map[string]string
	fail    map[string]bool
}

func (s *script) run(_ context.Context, args []string) ([]byte, error) {
	s.calls = append(s.calls, slices.Clone(args))
	key := strings.Join(args, " ")
	for k, v := range s.fail {
		if v && strings.HasPrefix(key, k) {
			return nil, errors.New("exit status 4: Error: Connection activation failed")
		}
	}
	for k, v := range s.answers {
		if strings.HasPrefix(key, k) {
			return []byte(v), nil
		}
	}
	return nil, nil
}

func TestNMCLIArguments(t *testing.T) {
	const psk = "hunter2-secret"
	for _, tc := range []struct {
		name    string
		answers map[string]string
		do      func(n *NMCLI) error
		want    [][]string
	}{
		{
			name:    "put replaces the old profile of that name",
			answers: map[string]string{"-t -f NAME,TYPE,ACTIVE": "cunbo-阿秀家:802-11-wireless:no\nWired:802-3-ethernet:yes\n"},
			do: func(n *NMCLI) error {
				return n.PutWiFi(context.Background(), "cunbo-阿秀家", Network{SSID: "阿秀家", PSK: psk, Priority: 50})
			},
			want: [][]string{
				{"-t", "-f", "NAME,TYPE,ACTIVE", "connection", "show"},
				{"connection", "delete", "id", "cunbo-阿秀家"},
				{"connection", "add", "type", "wifi", "ifname", "*", "con-name", "cunbo-阿秀家", "ssid", "阿秀家",
					"connection.autoconnect", "yes", "connection.autoconnect-priority", "50",
					"wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.psk", psk},
			},
		},
		{
			name: "an open network has no security",
			do: func(n *NMCLI) error {
				return n.PutWiFi(context.Background(), "cunbo-村委会", Network{SSID: "村委会", Priority: 7})
			},
			want: [][]string{
				{"-t", "-f", "NAME,TYPE,ACTIVE", "connection", "show"},
				{"connection", "add", "type", "wifi", "ifname", "*", "con-name", "cunbo-村委会", "ssid", "村委会",
					"connection.autoconnect", "yes", "connection.autoconnect-priority", "7"},
			},
		},
		{
			name: "activate waits",
			do:   func(n *NMCLI) error { return n.Activate(context.Background(), "cunbo-x") },
			want: [][]string{{"--wait", "45", "connection", "up", "id", "cunbo-x"}},
		},
		{
			name: "hotspot: an AP sharing its address, WPA2",
			do:   func(n *NMCLI) error { return n.StartHotspot(context.Background(), "村播-ab12", "12345678") },
			want: [][]string{
				{"-t", "-f", "NAME,TYPE,ACTIVE", "connection", "show"},
				{"connection", "add", "type", "wifi", "ifname", "wlan0", "con-name", "cunbo-hotspot", "ssid", "村播-ab12",
					"connection.autoconnect", "no", "802-11-wireless.mode", "ap", "802-11-wireless.band", "bg",
					"ipv4.method", "shared", "ipv6.method", "disabled", "wifi-sec.key-mgmt", "wpa-psk",
					"wifi-sec.proto", "rsn", "wifi-sec.psk", "12345678"},
				{"--wait", "45", "connection", "up", "id", "cunbo-hotspot"},
			},
		},
		{
			name:    "stop only an active hotspot",
			answers: map[string]string{"-t -f NAME,TYPE,ACTIVE": "cunbo-hotspot:802-11-wireless:yes\n"},
			do:      func(n *NMCLI) error { return n.StopHotspot(context.Background()) },
			want: [][]string{
				{"-t", "-f", "NAME,TYPE,ACTIVE", "connection", "show"},
				{"connection", "down", "id", "cunbo-hotspot"},
			},
		},
		{
			name:    "scan rescans",
			answers: map[string]string{"-t -f SSID": "a:50:WPA2\n"},
			do:      func(n *NMCLI) error { _, err := n.Scan(context.Background()); return err },
			want:    [][]string{{"-t", "-f", "SSID,SIGNAL,SECURITY", "device", "wifi", "list", "--rescan", "yes"}},
		},
		{
			name:    "connectivity",
			answers: map[string]string{"-t networking": "full\n"},
			do:      func(n *NMCLI) error { _, err := n.Connectivity(context.Background()); return err },
			want:    [][]string{{"-t", "networking", "connectivity"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{answers: tc.answers}
			iface := ""
			if strings.HasPrefix(tc.name, "hotspot") {
				iface = "wlan0"
			}
			n := &NMCLI{Run: s.run, Iface: iface, Timeout: time.Second}
			if err := tc.do(n); err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(s.calls, tc.want, slices.Equal) {
				t.Fatalf("argv:\n got %q\nwant %q", s.calls, tc.want)
			}
		})
	}
}

// A failing call's error and the debug log name the call but never the
// passphrase.
func TestNMCLIHidesThePassphrase(t *testing.T) {
	const psk = "hunter2-secret"
	var logs bytes.Buffer
	s := &script{fail: map[string]bool{"connection add": true}}
	n := &NMCLI{Run: s.run, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	err := n.PutWiFi(context.Background(), "cunbo-x", Network{SSID: "x", PSK: psk})
	if err == nil {
		t.Fatal("no error from a failing nmcli")
	}
	if strings.Contains(err.Error(), psk) || strings.Contains(logs.String(), psk) {
		t.Fatalf("passphrase shown:\nerr: %v\nlog: %s", err, logs.String())
	}
	if !strings.Contains(err.Error(), "connection add") || !strings.Contains(logs.String(), "****") {
		t.Fatalf("the call is not named: err %v, log %s", err, logs.String())
	}
}

func TestScanFallsBackToTheListWhileAnAP(t *testing.T) {
	s := &script{fail: map[string]bool{"-t -f SSID,SIGNAL,SECURITY device wifi list --rescan yes": true},
		answers: map[string]string{"-t -f SSID,SIGNAL,SECURITY device wifi list --rescan no": "a:50:WPA2\n"}}
	aps, err := (&NMCLI{Run: s.run}).Scan(context.Background())
	if err != nil || len(aps) != 1 || aps[0].SSID != "a" {
		t.Fatalf("Scan = %v, %v", aps, err)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		n  Network
		ok bool
	}{
		{Network{SSID: "a", PSK: "12345678"}, true},
		{Network{SSID: "a"}, true},
		{Network{SSID: "", PSK: "12345678"}, false},
		{Network{SSID: strings.Repeat("x", 33)}, false},
		{Network{SSID: "a", PSK: "1234567"}, false},
		{Network{SSID: "a", PSK: strings.Repeat("x", 64)}, false},
		{Network{SSID: "a", PSK: "密码密码密码密码"}, false},
	} {
		err := Check(tc.n)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInput)) {
			t.Errorf("Check(%+v) = %v", tc.n, err)
		}
	}
}
