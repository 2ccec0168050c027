-- +goose Up
-- Coaching notes a social worker writes to a woman; her box fetches them
-- when idle. Only appended: the box asks for the notes after the last one
-- it has.
CREATE TABLE notes (
    seq    bigserial PRIMARY KEY,
    box_id text NOT NULL REFERENCES boxes (id) ON DELETE CASCADE,
    text   text NOT NULL,
    author text NOT NULL,
    at     bigint NOT NULL
);
CREATE INDEX notes_box ON notes (box_id, seq);

-- +goose Down
DROP TABLE notes;
