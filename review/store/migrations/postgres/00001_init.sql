-- +goose Up
CREATE TABLE boxes (
    id         text PRIMARY KEY,
    public_key bytea NOT NULL UNIQUE,
    name       text NOT NULL DEFAULT '',
    added      bigint NOT NULL,
    revoked    bigint NOT NULL DEFAULT 0
);

CREATE TABLE challenges (
    nonce   text PRIMARY KEY,
    expires bigint NOT NULL,
    used    bigint NOT NULL DEFAULT 0
);
CREATE INDEX challenges_expires ON challenges (expires);

CREATE TABLE tokens (
    hash    text PRIMARY KEY,
    box_id  text NOT NULL REFERENCES boxes (id),
    expires bigint NOT NULL
);

CREATE TABLE segments (
    box_id   text NOT NULL REFERENCES boxes (id),
    id       text NOT NULL,
    sha256   text NOT NULL,
    size     bigint NOT NULL,
    reason   text NOT NULL,
    at       bigint NOT NULL,
    json     bytea NOT NULL,
    json_key text NOT NULL,
    clip_key text NOT NULL,
    received bigint NOT NULL,
    PRIMARY KEY (box_id, id)
);

CREATE TABLE sessions (
    box_id   text NOT NULL REFERENCES boxes (id),
    id       text NOT NULL,
    sha256   text NOT NULL,
    record   bytea NOT NULL,
    received bigint NOT NULL,
    PRIMARY KEY (box_id, id)
);

CREATE TABLE audit (
    seq     bigserial PRIMARY KEY,
    at      bigint NOT NULL,
    actor   text NOT NULL,
    action  text NOT NULL,
    subject text NOT NULL,
    detail  text NOT NULL
);

-- The log is append-only: the database itself refuses edits.
-- +goose StatementBegin
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();

-- +goose Down
DROP TABLE audit;
DROP FUNCTION audit_append_only;
DROP TABLE sessions;
DROP TABLE segments;
DROP TABLE tokens;
DROP TABLE challenges;
DROP TABLE boxes;
