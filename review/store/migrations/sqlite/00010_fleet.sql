-- +goose Up
-- Boxes' heartbeats (the fleet page): each box's recent reports, newest
-- kept, a bounded number per box (the store trims on insert). report is
-- the validated JSON the console parsed; at is the service's clock.
CREATE TABLE heartbeats (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    box_id TEXT NOT NULL REFERENCES boxes (id) ON DELETE CASCADE,
    at     INTEGER NOT NULL,
    report BLOB NOT NULL
) STRICT;
CREATE INDEX heartbeats_box ON heartbeats (box_id, seq DESC);

-- +goose Down
DROP TABLE heartbeats;
