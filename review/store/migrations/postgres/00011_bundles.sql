-- +goose Up
-- Published setup bundles: one row per target box, so a box asks for its
-- own newest one by key. The bundle itself is a blob (blob_key), shared by
-- every box it is for.
CREATE TABLE bundles (
	box_id    TEXT    NOT NULL REFERENCES boxes (id),
	version   BIGINT  NOT NULL,
	blob_key  TEXT    NOT NULL,
	size      BIGINT  NOT NULL,
	sha256    TEXT    NOT NULL,
	published BIGINT  NOT NULL,
	actor     TEXT    NOT NULL,
	PRIMARY KEY (box_id, version)
);

-- +goose Down
DROP TABLE bundles;
