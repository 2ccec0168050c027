// Package uploade2e tests the box's uploader (firmware/upload) against the
// review service's real code (review/server: sign-in, tus ingest, SQLite
// and blob files). It has tests only; it exists so that firmware/upload
// never imports review or a database module.
package uploade2e
