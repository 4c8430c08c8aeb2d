-- Search (issue #11): a full-text index of message bodies. `search` is the body's words as a
-- tsvector: every character that is not a letter or digit becomes a space first, so a dotted
-- name, an email, a URL or a snake_case identifier is indexed as its parts in order (as SQLite's
-- unicode61 tokenizer does), and a query for the whole thing is a phrase of those parts. The
-- 'simple' configuration folds case and keeps every word (no stemming, no stop words).
-- A generated column: it changes in the same statement as the body (edit, delete, clear, room
-- deletion), and `copy-to-postgres` has nothing to carry: it is computed as rows arrive.
ALTER TABLE messages ADD COLUMN search tsvector
    GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, regexp_replace(body, '[^[:alnum:]]+', ' ', 'g'))
    ) STORED;
CREATE INDEX messages_search ON messages USING GIN (search);

-- Searches with dates find the day's messages through this index instead of walking every
-- newer message.
CREATE INDEX messages_created ON messages(created_at);
