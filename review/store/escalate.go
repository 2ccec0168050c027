package store

// Escalations hands a segment to a colleague, and lists accounts for the admin and trainer pages.
type Escalations interface{}
