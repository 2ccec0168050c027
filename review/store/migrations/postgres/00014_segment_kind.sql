-- +goose Up
-- A flagged moment said in a practice (nothing published, no viewer heard
-- it) is kept apart from a live's: the console counts and orders her new
-- moments by it (store.SegmentKinds). PutSegment fills it from the
-- uploaded segment.json; every row before this migration is a live (a box
-- could not upload a practice's segment to a service without it).
ALTER TABLE segments ADD COLUMN kind text NOT NULL DEFAULT 'live' CHECK (kind IN ('live', 'practice'));

-- +goose Down
ALTER TABLE segments DROP COLUMN kind;
