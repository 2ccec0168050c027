-- +goose Up
-- A social worker scores a practice against the lab's rubric. Scoring it
-- again adds a row: the newest row of a practice is its score, the older
-- ones show how the view of it changed. Rows stay when the practice's
-- session record expires (her scores over time outlive the raw record);
-- they go with her box, and with forget.
CREATE TABLE assessments (
    seq        bigserial PRIMARY KEY,
    box_id     text NOT NULL REFERENCES boxes (id) ON DELETE CASCADE,
    session_id text NOT NULL,
    present    integer NOT NULL CHECK (present BETWEEN 1 AND 3),
    answer     integer NOT NULL CHECK (answer BETWEEN 1 AND 3),
    orders     integer NOT NULL CHECK (orders BETWEEN 1 AND 3),
    rules      integer NOT NULL CHECK (rules BETWEEN 1 AND 3),
    comment    text NOT NULL,
    author     text NOT NULL,
    at         bigint NOT NULL
);
CREATE INDEX assessments_session ON assessments (box_id, session_id, seq);

-- "Ready for a real live": set and cleared by a social worker; the newest
-- row of a box is its mark, the rest its history.
CREATE TABLE ready_marks (
    seq    bigserial PRIMARY KEY,
    box_id text NOT NULL REFERENCES boxes (id) ON DELETE CASCADE,
    ready  integer NOT NULL CHECK (ready IN (0, 1)),
    author text NOT NULL,
    at     bigint NOT NULL
);
CREATE INDEX ready_marks_box ON ready_marks (box_id, seq);

-- +goose Down
DROP TABLE ready_marks;
DROP TABLE assessments;
