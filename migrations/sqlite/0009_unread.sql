-- Mentions, read markers, notification levels and Web Push (issue #10).

-- The users a message mentions, space-separated ids (for the wire's `mentions`); '' for none.
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '';
-- Who may mention everyone (`@room`, `@here`): 'anyone' or 'moderators'.
ALTER TABLE rooms ADD COLUMN mention_everyone TEXT NOT NULL DEFAULT 'anyone';

-- One row per (mentioned person, message), for the mention counts of GET /api/me/unread.
-- The author is never among them. Deleting a message (or clearing its room) deletes its rows.
CREATE TABLE mentions (
    user_id    TEXT NOT NULL REFERENCES users(id),
    room_id    TEXT NOT NULL REFERENCES rooms(id),
    seq        INTEGER NOT NULL,                 -- the message's seq
    message_id TEXT NOT NULL REFERENCES messages(id),
    PRIMARY KEY (user_id, room_id, seq)
) WITHOUT ROWID;
CREATE INDEX mentions_message ON mentions(message_id);

-- A person's state in a room: how far they have read, and their notification level (NULL:
-- the default, 'all' in DMs and 'mentions' elsewhere).
CREATE TABLE read_state (
    user_id       TEXT NOT NULL REFERENCES users(id),
    room_id       TEXT NOT NULL REFERENCES rooms(id),
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    notifications TEXT,
    PRIMARY KEY (user_id, room_id)
) WITHOUT ROWID;
CREATE INDEX read_state_level ON read_state(room_id, notifications) WHERE notifications IS NOT NULL;

-- The unread counts: a covering range over a room's live messages by seq.
CREATE INDEX messages_unread ON messages(room_id, seq, author_id) WHERE deleted = 0;

-- Web Push subscriptions, one per browser (its endpoint).
CREATE TABLE push_subscriptions (
    endpoint   TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    p256dh     TEXT NOT NULL,                    -- base64url, as the browser gives it
    auth       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id);

-- Keys every node of a cluster shares: the VAPID key pair ('vapid': the private scalar,
-- base64url), made on the first start.
CREATE TABLE server_keys (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
