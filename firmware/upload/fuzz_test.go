package upload

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseState feeds arbitrary bytes to the queue's state reader: it must
// never panic, and what it accepts must be safe to act on and survive a
// write/read round trip unchanged.
func FuzzParseState(f *testing.F) {
	sum := strings.Repeat("0a", 32)
	f.Add([]byte(`{"version":1,"items":[]}`))
	f.Add([]byte(`{"version":1,"items":[{"kind":"segment","id":"20261206T093000000Z-0a1b2c3d","sha256":"` + sum +
		`","size":1024,"location":"http://review.local/api/uploads/0123456789abcdef0123456789abcdef"}]}`))
	f.Add([]byte(`{"version":1,"items":[{"kind":"session","id":"20261206T093000Z-0a1b2c3d","sha256":"` + sum +
		`","size":10,"failed":true,"error":"refused"}]}`))
	f.Add([]byte(`{"version":1,"items":[{"kind":"segment","id":"../../etc","sha256":"` + sum + `","size":1}]}`))
	f.Add([]byte(`{"version":1,"items":[null]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseState(data)
		if err != nil {
			return
		}
		for _, it := range st.Items {
			if strings.ContainsAny(it.ID, "/\\") || it.ID == "." || it.ID == ".." {
				t.Fatalf("accepted an id that names a path: %q", it.ID)
			}
		}
		again, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("accepted state does not marshal: %v", err)
		}
		st2, err := parseState(again)
		if err != nil {
			t.Fatalf("accepted state rejected after a round trip: %v\n%s", err, again)
		}
		again2, _ := json.Marshal(st2)
		if string(again) != string(again2) {
			t.Fatalf("round trip changed the state:\n%s\n%s", again, again2)
		}
	})
}

// A damaged queue.json is set aside, not deleted, and the queue starts
// empty (the flagged store still knows what is pending).
func TestDamagedStateSetAside(t *testing.T) {
	f := newFixture(t)
	seg := f.segment(t0, 1<<10)
	if err := writeFileForTest(f.qdir, StateFile, `{"version":1,"items":[{"kind":"segment"`); err != nil {
		t.Fatal(err)
	}
	u := f.uploader(nil)
	if !fileExists(f.qdir + "/" + StateFile + ".bad") {
		t.Fatal("the damaged queue.json was not kept aside")
	}
	run(t, u)
	waitFor(t, 20e9, "segment uploaded", func() bool { return f.status(seg.ID) == "uploaded" })
}
