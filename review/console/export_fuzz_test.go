package console

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cunbo/cunbo/review/store"
)

// Whatever a stored segment.json holds, its export is corpus lines of
// exactly three fields, one line each, and sentences come from captions.
func FuzzCorpusLines(f *testing.F) {
	f.Add(`{"transcript":{"text":"今天\n全网最低价","captions":[{"offset":0,"text":"今天"},{"offset":3,"text":"全网最低价"}]},"findings":[{"category":"ABS","rule":"r","start":3,"end":8}]}`, true)
	f.Add(`{"transcript":{"text":"今天全\n网最低价","captions":[{"offset":0,"text":"今天全"},{"offset":4,"text":"网最低价"}]},"findings":[{"category":"ABS","rule":"r","start":2,"end":7},{"category":"NEW","rule":"q","start":0,"end":1}]}`, false)
	f.Add(`{"transcript":{"text":"a\tb\r\nc","captions":[{"offset":0,"text":"a\tb\r\nc"}]},"findings":[{"category":"MED","start":0,"end":3}]}`, true)
	f.Add(`{"transcript":{"text":"ab","captions":[{"offset":5,"text":"ab"}]},"findings":[{"start":-3,"end":99},{"start":1,"end":0}]}`, true)
	f.Fuzz(func(t *testing.T, js string, real bool) {
		var s learnSegment
		if json.Unmarshal([]byte(js), &s) != nil {
			return
		}
		state := store.StateFalse
		if real {
			state = store.StateReal
		}
		sd := sentences(&s)
		for _, x := range sd {
			if x.Text == "" || len(x.Rules) == 0 {
				t.Fatalf("sentence %+v", x)
			}
			in := false
			for _, cp := range s.Transcript.Captions {
				in = in || strings.Contains(cleanSentence(cp.Text), x.Text) || strings.Contains(x.Text, cleanSentence(cp.Text))
			}
			if len(s.Transcript.Captions) > 0 && !in {
				t.Fatalf("sentence %q is in no caption", x.Text)
			}
		}
		for _, l := range corpusLines([]decided{{State: state, Said: sd}}) {
			line := l.labels + "\t" + l.class + "\t" + l.text
			if strings.ContainsAny(line, "\n\r") || strings.Count(line, "\t") != 2 || strings.ContainsAny(l.comment, "\n\r") {
				t.Fatalf("corpus line %q (comment %q)", line, l.comment)
			}
		}
	})
}
