package store

import "database/sql"

// DB exposes a store's database to the contract tests, which check what
// the schema itself enforces.
func DB(s Store) *sql.DB { return s.(*sqlStore).db }
