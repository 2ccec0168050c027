package lint

import "slices"

// Outermost drops findings lying inside another one (包治 inside 包治百病),
// sorting fs: whoever fixes the words needs one line per phrase to change.
func Outermost(fs []Finding) []Finding {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return b.End - a.End
	})
	var out []Finding
	for _, f := range fs {
		if n := len(out); n > 0 && f.Start >= out[n-1].Start && f.End <= out[n-1].End {
			continue
		}
		out = append(out, f)
	}
	return out
}
