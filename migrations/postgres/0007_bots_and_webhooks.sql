-- Issue #9 item 5: bot accounts with room-scoped tokens, and incoming webhooks.
-- A bot is a user (`bot` TRUE, no password) owned by a person; its token is a session that never
-- expires (`sessions.expires_at` NULL), stored only as its hash. `scoped` TRUE: the bot may reach
-- only the rooms of `bot_rooms`. A webhook posts into one room as its own bot-like user; its
-- secret is stored only as its hash.
ALTER TABLE users ADD COLUMN bot BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE bots (
    user_id    TEXT PRIMARY KEY REFERENCES users(id),
    owner_id   TEXT NOT NULL REFERENCES users(id),
    scoped     BOOLEAN NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX bots_owner ON bots(owner_id);

CREATE TABLE bot_rooms (
    bot_id  TEXT NOT NULL REFERENCES bots(user_id),
    room_id TEXT NOT NULL REFERENCES rooms(id),
    PRIMARY KEY (bot_id, room_id)
);

CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,                   -- SHA-256 of the secret in the URL; the secret itself is never stored
    created_by  TEXT NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL
);
CREATE INDEX webhooks_room ON webhooks(room_id);
