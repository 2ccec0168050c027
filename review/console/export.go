package console

import (
	"bufio"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/cunbo/cunbo/lint"
)

// Classes of the exported corpus lines (the corpus's second field).
const (
	classReal  = "review-real"  // a social worker confirmed the problem
	classFalse = "review-false" // a social worker decided it was a false alarm
)

const exportHeader = `# cunbo review: sentences social workers decided on, as caption-linter corpus lines
# (the format of lint/testdata/corpus.tsv). A person decides what joins the corpus:
# nothing here changes a rule by itself.
#
# Format: UTF-8, one utterance per line, exactly three TAB-separated fields:
#   <labels> TAB <class> TAB <text>
# <labels>: the category codes of a confirmed problem, "-" for a confirmed false alarm
#   (the sentence is clean).
# <class>: review-real (confirmed problem) | review-false (confirmed false alarm)
# The comment before each line names its source segment (box/segment), the rules that fired
# and the decision; "kind practice" ends it when the sentence was said in a practice (nobody
# watching), which a rule judges the same way. The kind is kept in the comment, not as a
# fourth field, so the lines stay readable as the corpus.
`

// corpusLine is one exported sentence.
type corpusLine struct {
	labels, class, text, comment string
}

// corpusLines turns decisions into corpus lines, the same labelled
// sentence once. Category codes the linter does not know (a newer box's)
// are left out; a confirmed problem with none left is not exported, as the
// corpus could not be read with it.
func corpusLines(ds []decided) []corpusLine {
	seen := map[string]bool{}
	var out []corpusLine
	for _, d := range ds {
		for _, sd := range d.Said {
			l := corpusLine{labels: "-", class: classFalse, text: sd.Text,
				comment: "# from " + d.Ref.BoxID + "/" + d.Ref.ID + " rules " + cleanSentence(strings.Join(sd.Rules, ",")) + " decided " + d.State}
			if d.Practice {
				l.comment += " kind practice"
			}
			if d.real() {
				var cats []string
				for _, code := range lint.Categories() {
					if slices.Contains(sd.Cats, code) {
						cats = append(cats, code)
					}
				}
				if len(cats) == 0 {
					continue
				}
				l.labels, l.class = strings.Join(cats, ","), classReal
			}
			k := l.labels + "\t" + l.text
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, l)
		}
	}
	return out
}

func (c *Console) export(w http.ResponseWriter, r *http.Request, u who) {
	user, ok := scope(u.user)
	if !ok {
		c.fail(w, r, http.StatusForbidden, "您的账号不能下载这个文件。")
		return
	}
	ds, err := c.readDecided(r.Context(), user)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	lines := corpusLines(ds)
	real := 0
	for _, l := range lines {
		if l.class == classReal {
			real++
		}
	}
	scopeName := "caseload"
	if user == "" {
		scopeName = "all"
	}
	c.audit(r.Context(), u, r, "export", "corpus", fmt.Sprintf("scope=%s lines=%d real=%d false=%d", scopeName, len(lines), real, len(lines)-real))
	h := w.Header()
	h.Set("Content-Type", "text/tab-separated-values; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="cunbo-review-corpus.tsv"`)
	h.Set("Cache-Control", "no-store")
	bw := bufio.NewWriter(w)
	bw.WriteString(exportHeader)
	for _, l := range lines {
		fmt.Fprintf(bw, "%s\n%s\t%s\t%s\n", l.comment, l.labels, l.class, l.text)
	}
	if err := bw.Flush(); err != nil {
		c.log.Warn("console: export", "err", err) // the browser went away
	}
}
