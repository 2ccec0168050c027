package console

import (
	"encoding/json"
	"testing"
)

// Whatever a box (or anyone with its token) sends, parseHeartbeat either
// refuses it or returns a heartbeat within every limit, which stores and
// reads back the same.
func FuzzParseHeartbeat(f *testing.F) {
	for _, s := range []string{
		`{"version":"1.4.0","config_version":3,"uptime_s":3600,"disk_free_bytes":1,"disk_free_pct":62.5,"temp_c":null,"throttled":null,"last_live":{"ended":"2026-12-06T10:00:00Z","stall_pct":0.4,"mean_kbps":2400},"speech_restarts":0,"queue_len":0,"queue_age_s":0}`,
		`{"version":"x"}`, `{}`, `[]`, `{"version":"1","temp_c":1e999}`, `{"version":"1"} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		h, err := parseHeartbeat(body)
		if err != nil {
			return
		}
		if err := h.validate(); err != nil {
			t.Fatalf("accepted %q: %v", body, err)
		}
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatalf("accepted %q does not marshal: %v", body, err)
		}
		h2, err := parseHeartbeat(b)
		if err != nil {
			t.Fatalf("stored form %s refused: %v", b, err)
		}
		if b2, _ := json.Marshal(h2); string(b2) != string(b) {
			t.Fatalf("round trip %s → %s", b, b2)
		}
	})
}
