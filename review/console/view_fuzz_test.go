package console

import (
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// A stored segment.json is shown whatever it holds: build never panics and
// every shown line's text comes from the transcript.
func FuzzBuild(f *testing.F) {
	f.Add(`{"version":2,"at":"2026-11-28T09:30:00Z","transcript":{"text":"今天\n全网最低价","captions":[{"start":-1,"end":1,"offset":0,"text":"今天"},{"start":1,"end":2,"offset":3,"text":"全网最低价"}]},"findings":[{"start":3,"end":8,"match":"全网最低价"}],"clip":{"start":"2026-11-28T09:29:55Z","end":"2026-11-28T09:30:03Z"}}`)
	f.Add(`{"transcript":{"text":"ab","captions":[{"offset":5,"text":"ab"}]},"findings":[{"start":-3,"end":99}]}`)
	f.Add(`{"transcript":{"text":"x"},"findings":[{"start":1,"end":0}]}`)
	f.Fuzz(func(t *testing.T, js string) {
		g := store.Segment{BoxID: "b", ID: "i", JSON: []byte(js), At: time.Unix(0, 0)}
		m, _ := build(g, store.StateNew, "她")
		for _, l := range m.Lines {
			for _, s := range l.Spans {
				if s.Text == "" {
					t.Fatalf("empty span in %+v", l)
				}
			}
		}
		if m.StartAt < 0 {
			t.Fatalf("start at %v", m.StartAt)
		}
		_ = short(m.Said, 5)
	})
}
