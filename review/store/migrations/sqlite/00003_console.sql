-- +goose Up
-- The console: people who sign in, their browser sessions, which social
-- worker looks after which box (one box is one woman for now), and the
-- decisions taken on each segment. Decisions are only ever appended: the
-- current state is the newest row, and an undo is a new row.
CREATE TABLE users (
    name    TEXT PRIMARY KEY,
    roles   TEXT NOT NULL,
    hash    TEXT NOT NULL,
    created INTEGER NOT NULL
) STRICT;

CREATE TABLE web_sessions (
    hash      TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf      TEXT NOT NULL,
    created   INTEGER NOT NULL,
    expires   INTEGER NOT NULL
) STRICT;
CREATE INDEX web_sessions_expires ON web_sessions (expires);

CREATE TABLE caseload (
    box_id    TEXT PRIMARY KEY REFERENCES boxes (id),
    user_name TEXT NOT NULL REFERENCES users (name),
    assigned  INTEGER NOT NULL
) STRICT;
CREATE INDEX caseload_user ON caseload (user_name);

CREATE TABLE decisions (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    box_id     TEXT NOT NULL,
    segment_id TEXT NOT NULL,
    state      TEXT NOT NULL,
    prev       TEXT NOT NULL,
    undoes     INTEGER NOT NULL DEFAULT 0,
    actor      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    FOREIGN KEY (box_id, segment_id) REFERENCES segments (box_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX decisions_segment ON decisions (box_id, segment_id, seq);
CREATE INDEX decisions_actor ON decisions (actor, seq);

-- +goose Down
DROP TABLE decisions;
DROP TABLE caseload;
DROP TABLE web_sessions;
DROP TABLE users;
