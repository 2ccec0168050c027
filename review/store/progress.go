package store

// Progress is what a woman's page and the per-rule precision need.
type Progress interface{}
