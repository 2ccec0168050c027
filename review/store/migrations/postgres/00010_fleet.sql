-- +goose Up
-- Boxes' heartbeats (the fleet page): each box's recent reports, newest
-- kept, a bounded number per box (the store trims on insert). report is
-- the validated JSON the console parsed; at is the service's clock.
CREATE TABLE heartbeats (
    seq    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    box_id text NOT NULL REFERENCES boxes (id) ON DELETE CASCADE,
    at     bigint NOT NULL,
    report bytea NOT NULL
);
CREATE INDEX heartbeats_box ON heartbeats (box_id, seq DESC);

-- +goose Down
DROP TABLE heartbeats;
