package console

import (
	"html/template"
	"strconv"
	"strings"
	"testing"

	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wire"
	"github.com/cunbo/cunbo/review/wiretest"
)

// A phrase she kept saying while a segment stayed open is one finding,
// counted: a practice that repeated 全网最低价 fourteen times filled a
// phone's first screen of the moment page with the same line (the clip
// pushed below) and the queue row with fourteen copies.
func TestRepeatedFindingsAreCounted(t *testing.T) {
	lowest := wire.Finding{Category: "ABS", CategoryName: "绝对化用语", Match: "全网最低价", Start: 6, End: 11, Explain: "x", Suggest: "y"}
	first := wire.Finding{Category: "ABS", CategoryName: "绝对化用语", Match: "第一", Start: 0, End: 2, Explain: "x", Suggest: "y"}
	for _, tc := range []struct {
		name  string
		found []wire.Finding
		want  []string // Said×Times, in order
	}{
		{"once", []wire.Finding{lowest}, []string{"全网最低价×1"}},
		{"fourteen times", repeat(lowest, 14), []string{"全网最低价×14"}},
		{"two phrases, one repeated", append([]wire.Finding{lowest, first}, repeat(lowest, 2)...), []string{"全网最低价×3", "第一×1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := wiretest.Segment("20261207T023335632Z-cd157065", 0)
			s.Findings = tc.found
			m, err := build(store.Segment{BoxID: "b", ID: s.ID, JSON: wiretest.JSON(t, s), At: s.At}, store.StateNew, "她")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range m.Findings {
				got = append(got, f.Said+"×"+itoa(f.Times))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("findings %q, want %q", got, tc.want)
			}
			// The queue row says the count once, in words.
			pages := template.Must(template.New("").Funcs(funcMap()).ParseFS(templateFS, "templates/queue.html", "templates/layout.html"))
			var b strings.Builder
			if err := pages.ExecuteTemplate(&b, "row", queueRow{moment: m}); err != nil {
				t.Fatal(err)
			}
			row := b.String()
			if n := strings.Count(row, "「全网最低价」"); n != 1 {
				t.Errorf("the queue row names 全网最低价 %d times:\n%s", n, row)
			}
			if len(tc.found) > 1 && m.Findings[0].Times > 1 && !strings.Contains(row, "「全网最低价」（"+itoa(m.Findings[0].Times)+" 次）") {
				t.Errorf("the queue row does not count the repeats:\n%s", row)
			}
		})
	}
}

func repeat(f wire.Finding, n int) []wire.Finding {
	out := make([]wire.Finding, n)
	for i := range out {
		out[i] = f
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
