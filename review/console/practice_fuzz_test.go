package console

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wire"
)

// An assessment form is either four scores the store accepts and a clean
// comment, or refused with a message; never half read.
func FuzzReadAssessment(f *testing.F) {
	f.Add("present=3&answer=2&orders=1&rules=3&comment=%E4%BB%B7%E6%A0%BC%E8%AF%B4%E6%B8%85%E6%A5%9A%E4%BA%86")
	f.Add("present=0&answer=2&orders=1&rules=3")
	f.Add("present=3&answer=2&orders=1&rules=3&comment=%00")
	f.Add("present=+3&answer=02&orders=1&rules=3")
	f.Add("present=3&present=1&answer=2&orders=1&rules=3&comment=" + strings.Repeat("a", 301))
	f.Fuzz(func(t *testing.T, form string) {
		v, err := url.ParseQuery(form)
		if err != nil {
			return
		}
		scores, comment, msg := readAssessment(v.Get)
		if msg != "" {
			if scores != [4]int{} || comment != "" {
				t.Fatalf("refused %q but read %v %q", form, scores, comment)
			}
			return
		}
		for _, s := range scores {
			if s < store.ScoreNotYet || s > store.ScoreGood {
				t.Fatalf("%q: score %d", form, s)
			}
		}
		if !utf8.ValidString(comment) || utf8.RuneCountInString(comment) > maxAssessComment || comment != strings.TrimSpace(comment) ||
			strings.ContainsFunc(comment, func(r rune) bool { return r != '\n' && unicode.IsControl(r) }) {
			t.Fatalf("%q: comment %q", form, comment)
		}
	})
}

// Any session record the ingest accepts summarises without panicking, and
// its counts are consistent: never more answered than asked, never more
// right cards than product questions, each skipped check named.
func FuzzSummarisePractice(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"20261206T100000Z-0000beef","device":"b","start":"2026-12-06T10:00:00Z","end":"2026-12-06T10:10:00Z",
		"findings":1,"kind":"practice","checks":{"scenario":"s","seconds":600,"skipped":["pace"],"questions":[{"line":3,"from":"a","text":"多少钱？",
		"product":"lajiao","asked":true,"at":12,"within":15,"answered":true,"answer_at":20,"card":"lajiao","right_card":true},
		{"line":4,"text":"辣不辣","asked":false,"within":10}],"warnings":1,"warnings_per_minute":0.1,"dead_air":[{"from":30,"to":45}],
		"chars_per_minute":150,"products":[{"id":"lajiao","seconds":300}]}}`))
	f.Add([]byte(`{"version":1,"id":"20261206T100000Z-0000beef","device":"b","start":"2026-12-06T10:00:00Z","end":"2026-12-06T10:10:00Z","kind":"practice"}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		s, err := wire.ParseSession(rec)
		if err != nil {
			return
		}
		p := summarise(s)
		if p.Answered > p.ToAnswer || p.RightCard > p.CardAsked || p.Answered < 0 || p.DeadAir < 0 {
			t.Fatalf("inconsistent summary %+v", p)
		}
		if p.NoChecks != (s.Checks == nil) {
			t.Fatalf("NoChecks %v with checks %v", p.NoChecks, s.Checks)
		}
		for _, n := range p.SkippedNames {
			if n == "" {
				t.Fatalf("a skipped check without a name: %v", s.Checks.Skipped)
			}
		}
	})
}
