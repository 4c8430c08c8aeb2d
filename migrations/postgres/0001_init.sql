-- Palaver's schema (PostgreSQL). The same shape as migrations/sqlite/0001_init.sql; times are
-- RFC 3339 UTC strings with milliseconds, kept as text so both stores hand out identical JSON.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    username_key  TEXT NOT NULL UNIQUE,          -- lowercase: names are unique ignoring case
    password_hash TEXT,                          -- NULL for guests
    guest         BOOLEAN NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,                 -- SHA-256 of the opaque token; the token itself is never stored
    user_id    TEXT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE rooms (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    topic      TEXT NOT NULL DEFAULT '',
    owner_id   TEXT,
    rearrange  TEXT NOT NULL DEFAULT 'anyone',
    -- The room's event counter: seq = last_seq + 1, taken under this row's lock in the same
    -- transaction as the change, so writers on different nodes queue per room.
    last_seq   BIGINT NOT NULL DEFAULT 0,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX rooms_live_name ON rooms(name_key) WHERE NOT deleted;

CREATE TABLE members (
    room_id   TEXT NOT NULL REFERENCES rooms(id),
    user_id   TEXT NOT NULL REFERENCES users(id),
    role      TEXT NOT NULL,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE messages (
    id         TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL REFERENCES rooms(id),
    seq        BIGINT NOT NULL,
    author_id  TEXT NOT NULL REFERENCES users(id),
    client_id  TEXT NOT NULL,
    body       TEXT NOT NULL,                    -- '' once deleted: the text is gone from the store
    -- Keys are ASCII [0-9a-z] and must sort byte-wise: "C" collation, whatever the database's.
    position   TEXT COLLATE "C" NOT NULL,
    created_at TEXT NOT NULL,
    edited_at  TEXT,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX messages_client ON messages(author_id, client_id);
CREATE UNIQUE INDEX messages_position ON messages(room_id, position) WHERE NOT deleted;

CREATE TABLE events (
    room_id    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    message_id TEXT,                             -- set for message.created / message.edited, to erase bodies on delete
    payload    TEXT NOT NULL,                    -- the protocol's Event object as JSON, byte for byte as delivered
    PRIMARY KEY (room_id, seq)
);
CREATE INDEX events_message ON events(message_id) WHERE message_id IS NOT NULL;
