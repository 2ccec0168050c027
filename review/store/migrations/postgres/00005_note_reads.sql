-- +goose Up
-- Read receipts: when a woman pressed 知道了 on a note, as her box reported
-- it. One row per note: a box retries a receipt until it is acknowledged,
-- and the first one counts.
CREATE TABLE note_reads (
    seq     bigint PRIMARY KEY REFERENCES notes (seq) ON DELETE CASCADE,
    read_at bigint NOT NULL
);

-- +goose Down
DROP TABLE note_reads;
