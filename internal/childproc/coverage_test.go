package childproc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// notChildren are the non-test files that may run a program without
// childproc, each with the reason. Test-support packages (a directory
// named *test, such as stream/rtmp/rtmptest) run only under go test and are
// not checked.
var notChildren = map[string]string{
	"cmd/cunbo/sim_http.go":       "xdg-open: the browser it opens must outlive cunbo sim; stty: returns at once",
	"bench/weaklink/netns.go":     "bench: ip and tc, each returns at once",
	"bench/weaklink/receivers.go": "bench: nginx inside a network namespace, stopped by the bench",
	"bench/weaklink/systems.go":   "bench: the baseline ffmpeg inside a network namespace, stopped by the bench",
}

// Every program the box starts goes through childproc, so none of them
// outlives a killed box (a new exec.Command elsewhere fails here until it
// does, or until it is listed above with its reason).
func TestEveryChildIsStartedByChildproc(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	const self = "github.com/cunbo/cunbo/internal/childproc"
	var checked int
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || n == "vendor" || (strings.HasPrefix(n, ".") && path != root) || n == "bin" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if dir := filepath.Base(filepath.Dir(path)); strings.HasPrefix(rel, "internal/childproc/") || strings.HasSuffix(dir, "test") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		execName, usesChildproc := "", false
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			name := p[strings.LastIndex(p, "/")+1:]
			if imp.Name != nil {
				name = imp.Name.Name
			}
			switch p {
			case "os/exec":
				execName = name
			case self:
				usesChildproc = true
			}
		}
		if execName == "" {
			return nil
		}
		var runs bool
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == execName &&
					(sel.Sel.Name == "Command" || sel.Sel.Name == "CommandContext") {
					runs = true
				}
			}
			return !runs
		})
		if !runs {
			return nil
		}
		checked++
		if _, ok := notChildren[rel]; ok {
			return nil
		}
		if !usesChildproc {
			t.Errorf("%s builds an exec.Cmd but does not start it with childproc.Start or childproc.Run", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("found no exec.Command at all: the walk is broken")
	}
}
