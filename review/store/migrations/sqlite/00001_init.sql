-- +goose Up
CREATE TABLE boxes (
    id         TEXT PRIMARY KEY,
    public_key BLOB NOT NULL UNIQUE,
    name       TEXT NOT NULL DEFAULT '',
    added      INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE challenges (
    nonce   TEXT PRIMARY KEY,
    expires INTEGER NOT NULL,
    used    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE tokens (
    hash    TEXT PRIMARY KEY,
    box_id  TEXT NOT NULL REFERENCES boxes (id),
    expires INTEGER NOT NULL
) STRICT;

CREATE TABLE segments (
    box_id   TEXT NOT NULL REFERENCES boxes (id),
    id       TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    size     INTEGER NOT NULL,
    reason   TEXT NOT NULL,
    at       INTEGER NOT NULL,
    json     BLOB NOT NULL,
    json_key TEXT NOT NULL,
    clip_key TEXT NOT NULL,
    received INTEGER NOT NULL,
    PRIMARY KEY (box_id, id)
) STRICT;

CREATE TABLE sessions (
    box_id   TEXT NOT NULL REFERENCES boxes (id),
    id       TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    record   BLOB NOT NULL,
    received INTEGER NOT NULL,
    PRIMARY KEY (box_id, id)
) STRICT;

CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL
) STRICT;

-- The log is append-only: the database itself refuses edits.
-- +goose StatementBegin
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit;
DROP TABLE sessions;
DROP TABLE segments;
DROP TABLE tokens;
DROP TABLE challenges;
DROP TABLE boxes;
