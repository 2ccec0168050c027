package store

// NoteReads records that a woman has read her coaching notes (read receipts from her box).
type NoteReads interface{}
