-- Moderation (issue #9): bans and mutes per room, reported messages, the audit log.
-- `kind` is 'ban' or 'mute'; `expires_at` NULL means until lifted. An expired row is inert
-- (every read compares it with now) until the sweep deletes it.
CREATE TABLE sanctions (
    room_id    TEXT NOT NULL REFERENCES rooms(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    kind       TEXT NOT NULL,
    by_id      TEXT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (room_id, user_id, kind)
);

CREATE TABLE reports (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms(id),
    message_id  TEXT NOT NULL REFERENCES messages(id),
    reporter_id TEXT NOT NULL REFERENCES users(id),
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX reports_room ON reports(room_id, created_at);

-- One row per moderation action, written in the transaction of the action itself. No foreign
-- keys: the record outlives what it names.
CREATE TABLE audit_log (
    id             TEXT PRIMARY KEY,             -- UUIDv7: sorts by time
    at             TEXT NOT NULL,
    actor_id       TEXT NOT NULL,
    action         TEXT NOT NULL,
    room_id        TEXT,
    target_user_id TEXT,
    detail         TEXT NOT NULL                 -- a JSON object
);
