-- +goose Up
-- The queue shows every undecided segment of a caseload first, however old.
-- Deriving the state from the newest decision per segment meant reading all
-- of a caseload's segments to find the new ones; keeping the current state
-- on the segment row (set in the same transaction as each decision, see
-- store.Decide and store.Undo) lets this index list her boxes' new ones
-- newest first directly. The decisions table stays the history.
ALTER TABLE segments ADD COLUMN state text NOT NULL DEFAULT 'new';
UPDATE segments s SET state = d.state
FROM (SELECT DISTINCT ON (box_id, segment_id) box_id, segment_id, state FROM decisions
      ORDER BY box_id, segment_id, seq DESC) d
WHERE d.box_id = s.box_id AND d.segment_id = s.id;
CREATE INDEX segments_state ON segments (box_id, state, at DESC, id DESC);
-- Her decided ones are listed by walking all decided segments newest first
-- and keeping her boxes' (as segments_at, migration 00008, does for all):
-- without the WHERE the walk first passed every new segment of every
-- caseload, and with box_id and state in it the walk skips other women's
-- without reading their rows.
CREATE INDEX segments_decided ON segments (at DESC, id DESC, box_id, state) WHERE state <> 'new';

-- +goose Down
DROP INDEX segments_decided;
DROP INDEX segments_state;
ALTER TABLE segments DROP COLUMN state;
