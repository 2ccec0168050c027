-- +goose Up
-- A woman's page lists her segments newest moment first; the primary key
-- (box_id, id) cannot give that order without sorting all of them.
CREATE INDEX segments_box_at ON segments (box_id, at, id);

-- +goose Down
DROP INDEX segments_box_at;
