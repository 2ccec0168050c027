package practice

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
)

//go:embed scenarios/*.scn
var defaultFiles embed.FS

// Default is the built-in scenario set, covering the demo catalogue's
// Rongjiang products; products validates the product ids (nil: any).
func Default(products []string) ([]*Scenario, error) {
	names, err := fs.Glob(defaultFiles, "scenarios/*.scn")
	if err != nil {
		return nil, fmt.Errorf("practice: default scenarios: %w", err)
	}
	sort.Strings(names)
	var out []*Scenario
	for _, n := range names {
		data, err := defaultFiles.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("practice: default scenarios: %w", err)
		}
		s, err := ParseScenario(data, products)
		if err != nil {
			return nil, fmt.Errorf("practice: %s: %w", n, err)
		}
		out = append(out, s)
	}
	return out, nil
}
