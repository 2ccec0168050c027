package lint

import (
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
)

//go:embed rules/default.pack
var defaultPack string

// DefaultPack parses the rule pack built into the binary.
func DefaultPack() (*Pack, error) {
	return ParsePack("default.pack", strings.NewReader(defaultPack))
}

// defaultRuleIDs are the built-in pack's rule IDs.
var defaultRuleIDs = sync.OnceValues(func() (map[string]bool, error) {
	p, err := DefaultPack()
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(p.Rules))
	for _, r := range p.Rules {
		ids[r.ID] = true
	}
	return ids, nil
})

// LoadPack reads a rule pack file; an empty path means the built-in pack.
func LoadPack(path string) (*Pack, error) {
	if path == "" {
		return DefaultPack()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open rule pack: %w", err)
	}
	defer f.Close()
	return ParsePack(path, f)
}

// NewDefault returns a Linter on the built-in rule pack, decoded from its
// compiled snapshot (snapshot.go). A snapshot that does not match the pack
// text (a pack edited without a new snapshot) is reported and the pack
// compiled instead: slower, never the old rules.
func NewDefault() (*Linter, error) {
	m, err := loadSnapshot(defaultSnapshot, defaultPack)
	if err != nil {
		slog.Warn("built-in rule pack compiled at start", "reason", err)
		p, err := DefaultPack()
		if err != nil {
			return nil, fmt.Errorf("built-in rule pack: %w", err)
		}
		return New(p)
	}
	l := &Linter{}
	l.m.Store(m)
	return l, nil
}
