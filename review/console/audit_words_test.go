package console

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// auditWritten finds the audit actions the review service writes: the
// literal action of every store.AuditEntry, c.audit call and retention
// entry in the non-test sources of review/ and cmd/cunbo-review.
var auditWritten = regexp.MustCompile(`(?:Action: *|c\.audit\([^"\n]*|entry\()"([a-z_]+\.[a-z_]+)"`)

// Every action the service writes reads in plain words on the admin's
// audit page: a new feature's entries showed as bare codes (fleet.view,
// woman.view, bundle.publish) among the worded ones.
func TestEveryWrittenAuditActionHasWords(t *testing.T) {
	found := map[string]string{}
	for _, root := range []string{"..", filepath.Join("..", "..", "cmd", "cunbo-review")} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range auditWritten.FindAllSubmatch(b, -1) {
				found[string(m[1])] = path
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The scan itself must see the actions of each kind of writer.
	for _, a := range []string{"user.login", "segment.decide", "box.add", "retention.clips", "forget.console"} {
		if found[a] == "" {
			t.Errorf("the source scan missed %s: the pattern no longer matches how it is written", a)
		}
	}
	for a, path := range found {
		if actionWords[a] == "" {
			t.Errorf("%s (written in %s) has no words in actionWords", a, path)
		}
	}
	for _, a := range auditActions {
		if actionWords[a] == "" {
			t.Errorf("the filter offers %s, which has no words", a)
		}
	}
}
