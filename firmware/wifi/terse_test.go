package wifi

import (
	"slices"
	"testing"
)

func TestParseTerse(t *testing.T) {
	for _, tc := range []struct {
		line string
		n    int
		want []string
		bad  bool
	}{
		{line: "HomeNet:802-11-wireless:yes", n: 3, want: []string{"HomeNet", "802-11-wireless", "yes"}},
		{line: `a\:b:c`, n: 2, want: []string{"a:b", "c"}},
		{line: `back\\slash:x`, n: 2, want: []string{`back\slash`, "x"}},
		{line: `::`, n: 3, want: []string{"", "", ""}},
		{line: "阿秀家的WiFi:80:WPA2", n: 3, want: []string{"阿秀家的WiFi", "80", "WPA2"}},
		{line: `trail\`, n: 1, bad: true},
		{line: "a:b", n: 3, bad: true},
		{line: "a:b:c:d", n: 3, bad: true},
	} {
		got, err := ParseTerse(tc.line, tc.n)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseTerse(%q, %d) = %q, want an error", tc.line, tc.n, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseTerse(%q, %d) = %q, %v; want %q", tc.line, tc.n, got, err, tc.want)
		}
	}
}

func TestParseScan(t *testing.T) {
	out := "Xiu\\:home:40:WPA2\nXiu\\:home:72:WPA2\n:90:WPA2\nshop:55:--\nold:55:WPA1 WPA2\n"
	aps, err := parseScan([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []AP{{"Xiu:home", 72, true}, {"old", 55, true}, {"shop", 55, false}}
	if !slices.Equal(aps, want) {
		t.Fatalf("parseScan = %+v, want %+v (strongest first, one per SSID, no hidden)", aps, want)
	}
	for _, bad := range []string{"x:loud:WPA2\n", "x:101:WPA2\n", "x:80\n"} {
		if _, err := parseScan([]byte(bad)); err == nil {
			t.Errorf("parseScan(%q): no error", bad)
		}
	}
}

func TestParseConnectivity(t *testing.T) {
	for in, want := range map[string]Connectivity{"full\n": Full, "none\n": None, "portal": Portal, "limited\n": Limited} {
		if c, err := parseConnectivity([]byte(in)); err != nil || c != want {
			t.Errorf("parseConnectivity(%q) = %q, %v", in, c, err)
		}
	}
	if _, err := parseConnectivity([]byte("maybe\n")); err == nil {
		t.Error("parseConnectivity(maybe): no error")
	}
}

// FuzzParseTerse: never panics, and whatever fields go in escaped come
// out the same.
func FuzzParseTerse(f *testing.F) {
	f.Add("HomeNet:802-11-wireless:yes", "a:b", `c\d`)
	f.Add(`a\:b:c`, "", "")
	f.Add(`\`, "::", `\\`)
	f.Fuzz(func(t *testing.T, line, a, b string) {
		if got, err := ParseTerse(line, 3); err == nil && len(got) != 3 {
			t.Fatalf("ParseTerse(%q) gave %d fields", line, len(got))
		}
		_, _ = parseScan([]byte(line))
		_, _ = parseConnections([]byte(line))
		joined := escapeTerse(a) + ":" + escapeTerse(b)
		got, err := ParseTerse(joined, 2)
		if err != nil || got[0] != a || got[1] != b {
			t.Fatalf("round trip of %q, %q through %q = %q, %v", a, b, joined, got, err)
		}
	})
}
