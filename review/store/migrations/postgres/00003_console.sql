-- +goose Up
-- The console: people who sign in, their browser sessions, which social
-- worker looks after which box (one box is one woman for now), and the
-- decisions taken on each segment. Decisions are only ever appended: the
-- current state is the newest row, and an undo is a new row.
CREATE TABLE users (
    name    text PRIMARY KEY,
    roles   text NOT NULL,
    hash    text NOT NULL,
    created bigint NOT NULL
);

CREATE TABLE web_sessions (
    hash      text PRIMARY KEY,
    user_name text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf      text NOT NULL,
    created   bigint NOT NULL,
    expires   bigint NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires);

CREATE TABLE caseload (
    box_id    text PRIMARY KEY REFERENCES boxes (id),
    user_name text NOT NULL REFERENCES users (name),
    assigned  bigint NOT NULL
);
CREATE INDEX caseload_user ON caseload (user_name);

CREATE TABLE decisions (
    seq        bigserial PRIMARY KEY,
    box_id     text NOT NULL,
    segment_id text NOT NULL,
    state      text NOT NULL,
    prev       text NOT NULL,
    undoes     bigint NOT NULL DEFAULT 0,
    actor      text NOT NULL,
    at         bigint NOT NULL,
    FOREIGN KEY (box_id, segment_id) REFERENCES segments (box_id, id) ON DELETE CASCADE
);
CREATE INDEX decisions_segment ON decisions (box_id, segment_id, seq);
CREATE INDEX decisions_actor ON decisions (actor, seq);

-- +goose Down
DROP TABLE decisions;
DROP TABLE caseload;
DROP TABLE web_sessions;
DROP TABLE users;
