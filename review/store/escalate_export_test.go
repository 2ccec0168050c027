package store

// AuditPageSQL is the statement AuditPage runs for f, for the plan test.
func AuditPageSQL(s Store, f AuditFilter) (string, []any) { return s.(*sqlStore).auditPageSQL(f) }
