-- +goose Up
-- The retention sweep looks for the oldest rows every hour.
CREATE INDEX segments_received ON segments (received);
CREATE INDEX sessions_received ON sessions (received);

-- +goose Down
DROP INDEX sessions_received;
DROP INDEX segments_received;
