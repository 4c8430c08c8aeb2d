-- Sessions expire (PALAVER_SESSION_TTL_SECS). New sessions get their expiry when created; a
-- session from before this migration keeps working until 30 days (the default lifetime) after it
-- was created. NULL means "never expires" (only for sessions made through the old interface).
ALTER TABLE sessions ADD COLUMN expires_at TEXT DEFAULT NULL;
UPDATE sessions SET expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '+30 days');
CREATE INDEX sessions_expiry ON sessions(expires_at);
