-- Issue #10: replies, threads, reactions and pins.
-- `reply_to`: the message this one answers (any message of the room). `thread_id`: for a thread
-- reply, the thread's first message (a top-level message of the same room); room history pages
-- leave thread replies out. On a thread's first message, `reply_count` and `last_reply_at` hold
-- its live replies' count and the newest one's time, kept in the transaction of each change.
ALTER TABLE messages ADD COLUMN reply_to TEXT;
ALTER TABLE messages ADD COLUMN thread_id TEXT;
ALTER TABLE messages ADD COLUMN reply_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN last_reply_at TEXT;
CREATE INDEX messages_thread ON messages(thread_id, position) WHERE thread_id IS NOT NULL AND deleted = 0;

-- Who may pin in a room: 'moderators' (rooms) or 'anyone' (DMs).
ALTER TABLE rooms ADD COLUMN pins TEXT NOT NULL DEFAULT 'moderators';
UPDATE rooms SET pins = 'anyone' WHERE kind = 'direct';

-- One row per (message, emoji, person). `seq` is the reaction.added event's: reactions list in
-- that order, first reacted first.
CREATE TABLE reactions (
    message_id TEXT NOT NULL REFERENCES messages(id),
    emoji      TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id),
    room_id    TEXT NOT NULL REFERENCES rooms(id),
    seq        INTEGER NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);
CREATE INDEX reactions_room ON reactions(room_id);

-- A pinned message of a room; `seq` is the message.pinned event's (newest pin first).
CREATE TABLE pins (
    message_id TEXT PRIMARY KEY REFERENCES messages(id),
    room_id    TEXT NOT NULL REFERENCES rooms(id),
    by_id      TEXT NOT NULL REFERENCES users(id),
    pinned_at  TEXT NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX pins_room ON pins(room_id, seq);
