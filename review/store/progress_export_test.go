package store

// ProgressPlans are the woman page's queries with example arguments, for
// the test that asks each backend how it would run them.
func ProgressPlans(s Store) map[string]struct {
	SQL    string
	Args   []any
	SortOK bool
} {
	ss := s.(*sqlStore)
	type q = struct {
		SQL    string
		Args   []any
		SortOK bool
	}
	return map[string]q{
		"box sessions":  {ss.sqlFor(boxSessionsSQLite, boxSessionsPostgres), []any{"1111", 60}, false},
		"box lives":     {ss.sqlFor(boxSessionsLiveSQLite, boxSessionsLivePostgres), []any{"1111", 60}, false},
		"box practices": {ss.sqlFor(boxSessionsPracticeSQLite, boxSessionsPracticePostgres), []any{"1111", 60}, false},
		"box moments":   {ss.sqlFor(boxMomentsSQLite, boxMomentsPostgres), []any{"1111", int64(0), 1000}, false},
		"recent notes":  {ss.sqlFor(recentNotesSQLite, recentNotesPostgres), []any{"1111", 50}, false},
		// Sorting a caseload's decisions is fine (a few thousand); scanning
		// every box's is not.
		"decided of a caseload": {ss.sqlFor(decidedOfSQLite, decidedOfPostgres), []any{"a", 100}, true},
	}
}
