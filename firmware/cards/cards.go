// Package cards prepares the product cards a box shows. It reads the
// trainer's catalogue (overlay), checks the words of every card against the
// advertising rules (lint) — text on the video is advertising as much as
// what the streamer says — and turns everything wrong into the phone page's
// setup problems. overlay and lint are siblings that never import each
// other; this package is where they meet.
//
// Nothing here stops a stream: a catalogue that cannot be read means no
// cards, a bad row means one card fewer, and a card that breaks a rule is
// never put on screen. Each of them is listed, in plain Chinese, with where
// to find it and what to write instead.
package cards

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/overlay"
)

// Sources of the problems this package reports (web.SetupProblem.Source).
const (
	SourceCatalog = "catalog"
	SourceCard    = "card"
)

// MaxProblems bounds the list on the phone page: a sheet with hundreds
// of bad rows needs the first ones fixed, not a page nobody scrolls.
const MaxProblems = 40

// Load reads the catalogue at path, its photos from photoDir, and keeps
// only the cards whose words pass lt. It never fails: without a readable
// catalogue the box streams with no card, and the problems say why.
func Load(path, photoDir string, lt *lint.Linter) (*overlay.Catalog, []web.SetupProblem) {
	file := filepath.Base(path)
	cat, rows, err := overlay.LoadCatalog(path, photoDir)
	problems := RowProblems(file, rows)
	if err != nil {
		problems = append(problems, web.SetupProblem{
			Source:  SourceCatalog,
			Where:   path,
			Message: "商品表读不出来：" + strings.TrimPrefix(err.Error(), "overlay: ") + "。直播照常进行，画面上不显示商品卡片。",
			Hint:    "用 Excel 或 WPS 做表，保存为 .xlsx 或“CSV UTF-8”；第一行写列名：名称、价格（还可以有 链接号、规格、图片、卖点）",
		})
		return &overlay.Catalog{}, limit(problems)
	}
	cat, cardProblems := Check(cat, file, lt)
	return cat, limit(append(problems, cardProblems...))
}

// Check lints the name, unit and tagline of every card and returns the
// catalogue without the cards that break a rule, with one problem per
// offending phrase. file names the catalogue in the problems ("" for the
// built-in demo). A nil linter checks nothing.
func Check(cat *overlay.Catalog, file string, lt *lint.Linter) (*overlay.Catalog, []web.SetupProblem) {
	if cat == nil || lt == nil {
		return cat, nil
	}
	var problems []web.SetupProblem
	kept := &overlay.Catalog{}
	for _, p := range cat.Products {
		var bad []web.SetupProblem
		for _, f := range p.Texts() {
			for _, fd := range lint.Outermost(lt.CheckFinal(f.Text)) {
				msg := fmt.Sprintf("卡片%s里的“%s”不能用：%s", f.Label, fd.Match, fd.Explain)
				if fd.Law != "" {
					msg += "（" + fd.Law + "）"
				}
				bad = append(bad, web.SetupProblem{
					Source:  SourceCard,
					Where:   cardWhere(file, p),
					Message: msg + "。这张卡片不会出现在直播画面上。",
					Hint:    fd.Suggest,
				})
			}
		}
		if len(bad) > 0 {
			problems = append(problems, bad...)
			continue
		}
		kept.Products = append(kept.Products, p)
	}
	if cat.Len() > 0 && kept.Len() == 0 {
		problems = append(problems, web.SetupProblem{
			Source:  SourceCard,
			Where:   cmp(file, "商品表"),
			Message: "没有一张卡片可以显示。直播照常进行，画面上不显示商品卡片。",
			Hint:    "按上面说的改好卡片上的字，再重新启动盒子",
		})
	}
	return kept, problems
}

// RowProblems turns the catalogue reader's row problems into the phone
// page's, each with an example of what the cell should hold.
func RowProblems(file string, rows []overlay.Problem) []web.SetupProblem {
	out := make([]web.SetupProblem, 0, len(rows))
	for _, r := range rows {
		where := cmp(file, "商品表")
		if r.Row > 0 {
			where += fmt.Sprintf(" 第%d行", r.Row)
		}
		if r.Field != "" {
			where += "（" + r.Field + "）"
		}
		out = append(out, web.SetupProblem{Source: SourceCatalog, Where: where, Message: r.Msg, Hint: fieldHint[r.Field]})
	}
	return out
}

// fieldHint shows what a cell of each column should look like.
var fieldHint = map[string]string{
	"名称":  "例如：野生蜂蜜",
	"价格":  "例如：39.9、￥38、38元、1,280",
	"链接号": "写数字，例如：3",
	"编号":  "每行写一个不同的编号，或者空着不写",
	"图片":  "把图片放进商品表所在的文件夹，文件名和表里写的一样，例如：fengmi.jpg",
}

func cardWhere(file string, p overlay.Product) string {
	if p.Row > 0 {
		return fmt.Sprintf("%s 第%d行「%s」", cmp(file, "商品表"), p.Row, p.Name)
	}
	return "卡片「" + p.Name + "」"
}

func cmp(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// limit keeps the first MaxProblems and says how many more there are.
func limit(ps []web.SetupProblem) []web.SetupProblem {
	if len(ps) <= MaxProblems {
		return ps
	}
	more := len(ps) - (MaxProblems - 1)
	ps = append(ps[:MaxProblems-1:MaxProblems-1], web.SetupProblem{
		Source: ps[MaxProblems-1].Source, Where: "商品表",
		Message: fmt.Sprintf("还有 %d 个问题没有列出。", more),
		Hint:    "先改好上面这些，再重新启动盒子",
	})
	return ps
}
