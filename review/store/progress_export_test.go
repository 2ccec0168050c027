package store

// ProgressPlans are the woman page's queries with example arguments, for
// the test that asks each backend how it would run them.
func ProgressPlans(s Store) map[string]struct {
	SQL  string
	Args []any
} {
	ss := s.(*sqlStore)
	type q = struct {
		SQL  string
		Args []any
	}
	return map[string]q{
		"box sessions": {ss.sqlFor(boxSessionsSQLite, boxSessionsPostgres), []any{"1111", 60}},
		"box moments":  {ss.sqlFor(boxMomentsSQLite, boxMomentsPostgres), []any{"1111", int64(0), 1000}},
		"recent notes": {ss.sqlFor(recentNotesSQLite, recentNotesPostgres), []any{"1111", 50}},
	}
}
