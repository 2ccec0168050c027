-- +goose Up
-- Coaching notes a social worker writes to a woman; her box fetches them
-- when idle. Only appended: the box asks for the notes after the last one
-- it has.
CREATE TABLE notes (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    box_id TEXT NOT NULL REFERENCES boxes (id) ON DELETE CASCADE,
    text   TEXT NOT NULL,
    author TEXT NOT NULL,
    at     INTEGER NOT NULL
) STRICT;
CREATE INDEX notes_box ON notes (box_id, seq);

-- +goose Down
DROP TABLE notes;
