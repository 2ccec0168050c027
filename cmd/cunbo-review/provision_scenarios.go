package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/overlay"
	"github.com/cunbo/cunbo/practice"
)

// checkScenarios validates the practice scenarios a bundle will carry the
// way the trainer's page does: each file parsed by the practice parser and
// its sample answers linted with the rule pack being bundled (the box's
// built-in rules when none is), listed on stdout; a product the bundled
// catalogue lacks is a warning on stderr. It returns false, having said
// why on stderr, when any file has a problem.
func checkScenarios(files, rules, catalogue map[string][]byte, stdout, stderr io.Writer) (bool, error) {
	lt, err := bundledLinter(rules)
	if err != nil {
		return false, err
	}
	ids, haveCatalogue := catalogueIDs(catalogue)
	ok := true
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.Contains(name, "/") || !slices.Contains([]string{".txt", ".scn"}, strings.ToLower(path.Ext(name))) {
			fmt.Fprintf(stderr, "练习题 (scenario) %s: 只放 .txt 文件，不要放子文件夹 (only .txt files, no subfolders)\n", name)
			ok = false
			continue
		}
		s, problems := practice.Validate(files[name], lt)
		for _, p := range problems {
			fmt.Fprintf(stderr, "练习题 (scenario) %s: %s\n", name, p.Error())
		}
		if s == nil || len(problems) > 0 {
			ok = false
			continue
		}
		fmt.Fprintf(stdout, "练习题 (scenario): %s  %s  %d 个问题 (questions)  商品 (products): %s\n",
			name, s.Name, len(s.Questions), strings.Join(s.Products(), " "))
		if haveCatalogue {
			for _, id := range s.Missing(ids) {
				fmt.Fprintf(stderr, "练习题 (scenario) %s: 注意：商品「%s」不在商品表里，盒子上不会问到它的题 (warning: product %s is not in the catalogue; its questions are left out on the box)\n", name, id, id)
			}
		}
	}
	return ok, nil
}

// bundledLinter is the linter the box will run with the bundle's rule
// pack: the box reads rules/default.pack (firmware/compliance.LoadLinter)
// and falls back to its built-in rules without one.
func bundledLinter(rules map[string][]byte) (*lint.Linter, error) {
	data, ok := rules["default.pack"]
	if !ok {
		return lint.NewDefault()
	}
	p, err := lint.ParsePack("rules/default.pack", bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("rule pack: %w", err)
	}
	return lint.New(p)
}

// catalogueIDs is the product ids of the bundled catalogue's spreadsheet
// (the one at its top, as the box finds it); false without one.
func catalogueIDs(catalogue map[string][]byte) ([]string, bool) {
	for _, name := range slices.Sorted(maps.Keys(catalogue)) {
		switch strings.ToLower(filepath.Ext(name)) {
		case ".xlsx", ".csv", ".tsv":
		default:
			continue
		}
		if strings.Contains(name, "/") {
			continue
		}
		cat, _, err := overlay.ParseCatalog(bytes.NewReader(catalogue[name]), nil)
		if err != nil {
			return nil, false
		}
		var ids []string
		for _, p := range cat.Products {
			ids = append(ids, p.ID)
		}
		return ids, true
	}
	return nil, false
}
