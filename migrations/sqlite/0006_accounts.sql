-- Issue #9 accounts: profiles (time zone, a lowercase display-name key for the directory),
-- ended accounts, the guest name grace, and sessions with a public id and a last use.
-- `released_at`: for a guest, when the server saw its last session end; its name is freed
-- PALAVER_GUEST_NAME_GRACE_SECS later. `retired_at`: the account ended (deleted, or a guest that
-- expired); its `username_key` is then '~' || id, so the name is free again.
ALTER TABLE users ADD COLUMN timezone TEXT DEFAULT NULL;
ALTER TABLE users ADD COLUMN display_key TEXT DEFAULT NULL;
ALTER TABLE users ADD COLUMN released_at TEXT DEFAULT NULL;
ALTER TABLE users ADD COLUMN retired_at TEXT DEFAULT NULL;
CREATE INDEX users_released ON users(released_at) WHERE released_at IS NOT NULL;
-- A session's public id (GET /api/me/sessions): random, never the token or its hash. Every
-- session is made with one (AccountStore::create_session*); '' only for a row inserted around them.
ALTER TABLE sessions ADD COLUMN id TEXT NOT NULL DEFAULT '';
UPDATE sessions SET id = lower(hex(randomblob(16)));
CREATE UNIQUE INDEX sessions_id ON sessions(id) WHERE id <> '';
-- Written at most once a minute per session, not on every request.
ALTER TABLE sessions ADD COLUMN last_seen_at TEXT DEFAULT NULL;
