-- +goose Up
-- The queue lists a caseload's segments newest first, 500 at most: walking
-- this index from the newest and keeping the caseload's boxes stops after
-- a few thousand entries, where sorting all of a caseload's segments (and
-- reading each one's JSON) took most of the queue page's time with 100 000
-- segments stored. box_id in the index lets the walk skip other women's
-- segments without reading their rows.
CREATE INDEX segments_at ON segments (at DESC, id DESC, box_id);

-- +goose Down
DROP INDEX segments_at;
