-- Issue #9's access model: DMs and invites.
-- A DM (kind 'direct') has `dm_key`: its people's user ids, sorted, joined by ','. The unique
-- index makes two racing opens of the same DM one room. Its `name_key` is 'dm:' || id, so DMs
-- never take part in the room-name uniqueness.
ALTER TABLE rooms ADD COLUMN dm_key TEXT DEFAULT NULL;
CREATE UNIQUE INDEX rooms_live_dm ON rooms(dm_key) WHERE dm_key IS NOT NULL AND deleted = 0;
-- A user's rooms (the room list reads the caller's memberships).
CREATE INDEX members_user ON members(user_id);

-- Invite codes: only the SHA-256 of a code is kept (the code is shown once, when made).
-- `max_uses` 0: no limit. `expires_at` NULL: never expires.
CREATE TABLE invites (
    code_hash  TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL REFERENCES rooms(id),
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT,
    max_uses   INTEGER NOT NULL DEFAULT 0,
    uses       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX invites_room ON invites(room_id);
