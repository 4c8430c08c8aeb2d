-- Sessions expire (PALAVER_SESSION_TTL_SECS). New sessions get their expiry when created; a
-- session from before this migration keeps working until 30 days (the default lifetime) after it
-- was created. NULL means "never expires" (only for sessions made through the old interface).
-- Times are RFC 3339 UTC text with milliseconds, as everywhere in this schema.
ALTER TABLE sessions ADD COLUMN expires_at TEXT DEFAULT NULL;
UPDATE sessions SET expires_at = to_char(
    (created_at::timestamptz + interval '30 days') AT TIME ZONE 'UTC',
    'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
CREATE INDEX sessions_expiry ON sessions(expires_at);
