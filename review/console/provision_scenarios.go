package console

// Practice scenarios on the trainer's provisioning pages: she may upload
// scenario files (package practice's format, .txt) with the catalogue;
// the draft page lists each one (its name, questions and the products it
// asks about) or its problems by line, the way catalogue rows are shown,
// and a bundle is built only when every file is clean. The box practises
// with the set it carries (firmware/app/practice.go).

import (
	"fmt"
	"maps"
	"mime/multipart"
	"path"
	"slices"
	"strings"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/practice"
)

// MaxScenarioFiles is how many scenario files one bundle may carry: a
// course of lessons, not a library.
const MaxScenarioFiles = 20

// scenarioExts are the names a scenario file may have: .txt is what a
// trainer's editor saves; .scn is the built-in set's.
var scenarioExts = []string{".txt", ".scn"}

// scenarioView is one uploaded scenario file on the draft page.
type scenarioView struct {
	File      string
	Name      string // the scenario's own name; "" when it does not parse
	Questions int
	Products  []string   // "榕江古法辣椒酱（lajiao）", in id order
	Warnings  []string   // products the catalogue lacks: those questions are left out on the box
	Problems  []lineView // must be fixed before a bundle is built
}

type lineView struct {
	Where string // "第3行" or "整个文件"
	Text  string
}

// readScenarios takes the form's scenario files; msg (with code) is why
// the upload is refused.
func readScenarios(fhs []*multipart.FileHeader, taken func(string) bool) (files map[string][]byte, code int, msg string) {
	if len(fhs) > MaxScenarioFiles {
		return nil, 413, fmt.Sprintf("练习题有 %d 个文件，最多 %d 个。", len(fhs), MaxScenarioFiles)
	}
	files = map[string][]byte{}
	for _, fh := range fhs {
		name := path.Base(strings.ReplaceAll(fh.Filename, `\`, "/"))
		if bundle.CheckPath(bundle.ScenariosDir+"/"+name) != nil || !slices.Contains(scenarioExts, strings.ToLower(path.Ext(name))) {
			return nil, 400, fmt.Sprintf("练习题“%s”的名字不行：要以 .txt 结尾，名字里不要有奇怪的符号。", name)
		}
		if _, dup := files[name]; dup || taken(name) {
			return nil, 400, fmt.Sprintf("有两个文件都叫“%s”，请改掉一个的名字。", name)
		}
		if fh.Size > practice.MaxScenarioBytes {
			return nil, 413, fmt.Sprintf("练习题“%s”太大了，最大 %d KB。", name, practice.MaxScenarioBytes>>10)
		}
		data, err := readPart(fh, practice.MaxScenarioBytes)
		if err != nil {
			return nil, 500, ""
		}
		if len(data) > practice.MaxScenarioBytes {
			return nil, 413, fmt.Sprintf("练习题“%s”太大了，最大 %d KB。", name, practice.MaxScenarioBytes>>10)
		}
		files[name] = data
	}
	return files, 0, ""
}

// checkScenarios validates every scenario file with the practice parser
// and lints its sample answers with lt (the rules the box will judge her
// with), against the products of the cards the box will show.
func checkScenarios(files map[string][]byte, p *parsed, lt *lint.Linter) []scenarioView {
	names := map[string]string{}
	var ids []string
	for _, prod := range p.cat.Products {
		if prod.ID != "" {
			names[prod.ID] = prod.Name
			ids = append(ids, prod.ID)
		}
	}
	var out []scenarioView
	for _, file := range slices.Sorted(maps.Keys(files)) {
		sv := scenarioView{File: file}
		s, problems := practice.Validate(files[file], lt)
		for _, le := range problems {
			where := fmt.Sprintf("第%d行", le.Line)
			if le.Line == 0 {
				where = "整个文件"
			}
			sv.Problems = append(sv.Problems, lineView{Where: where, Text: le.Zh})
		}
		if s != nil {
			sv.Name, sv.Questions = s.Name, len(s.Questions)
			for _, id := range s.Products() {
				if n, ok := names[id]; ok {
					sv.Products = append(sv.Products, n+"（"+id+"）")
				} else {
					sv.Products = append(sv.Products, id)
				}
			}
			missing := s.Missing(ids)
			for _, q := range s.Questions {
				for _, id := range []string{q.Product, q.AfterCard} {
					if id != "" && slices.Contains(missing, id) {
						sv.Warnings = append(sv.Warnings, fmt.Sprintf("第%d行：商品「%s」不在这次的商品表里，盒子上不会问这一题。", q.Line, id))
						break
					}
				}
			}
		}
		out = append(out, sv)
	}
	return out
}

// scenarioProblems says which files must be fixed before a bundle is
// built; "" when none.
func scenarioProblems(views []scenarioView) string {
	var bad []string
	for _, sv := range views {
		if len(sv.Problems) > 0 {
			bad = append(bad, "“"+sv.File+"”")
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return "练习题" + strings.Join(bad, "、") + "有要改的地方（看上面的 🎓 练习题），改好了和商品表一起重新上传。"
}
