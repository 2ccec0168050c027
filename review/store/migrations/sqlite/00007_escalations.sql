-- +goose Up
-- A social worker hands a segment to a colleague with a short reason. One
-- row per segment: handing it on again replaces the row (who handed what
-- to whom, each time, stays in the audit log). The row goes with its
-- segment when the segment is forgotten.
CREATE TABLE escalations (
    box_id     TEXT NOT NULL,
    segment_id TEXT NOT NULL,
    from_user  TEXT NOT NULL,
    to_user    TEXT NOT NULL REFERENCES users (name),
    reason     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (box_id, segment_id),
    FOREIGN KEY (box_id, segment_id) REFERENCES segments (box_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX escalations_to ON escalations (to_user, at);
CREATE INDEX escalations_from ON escalations (from_user, at);
-- The admin's audit page filters by actor and by action, newest first.
CREATE INDEX audit_actor ON audit (actor, seq);
CREATE INDEX audit_action ON audit (action, seq);

-- +goose Down
DROP INDEX audit_action;
DROP INDEX audit_actor;
DROP TABLE escalations;
