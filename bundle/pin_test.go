package bundle

import "testing"

func TestCheckPIN(t *testing.T) {
	for pin, ok := range map[string]bool{
		"502817": true, "90817263": true, "013579": true,
		"2468": false, "246810": false, "123456": false, "654321": false, "000000": false, "999999": false,
		"345678": false, "890123": false, "12345": false, "123456789": false, "50281a": false, "": false, "５０２８１７": false,
	} {
		if got := CheckPIN(pin) == ""; got != ok {
			t.Errorf("CheckPIN(%q) = %q, want ok=%v", pin, CheckPIN(pin), ok)
		}
	}
}
