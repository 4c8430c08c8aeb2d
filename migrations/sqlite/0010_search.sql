-- Search (issue #11): a full-text index of message bodies, FTS5 over `messages` as its external
-- content (the text is not stored twice), keyed by the message's rowid.
--
-- Tokens are runs of letters and digits (unicode61): a dotted name, an email, a URL or a
-- snake_case identifier is indexed as its parts in order, and a query for the whole thing is a
-- phrase of those parts. Case folds; diacritics are kept, as PostgreSQL's index keeps them, so
-- both stores answer a query alike.
--
-- The triggers that keep it in step with `messages` (in the transaction of every write: send,
-- edit, delete, clear, room deletion) are installed when the store opens
-- (src/store/sqlite/search.rs), which also rebuilds the index if they were missing; this makes
-- an index over the messages already stored.
CREATE VIRTUAL TABLE message_search USING fts5(
    body,
    content = 'messages',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 0',
    -- The last word of a query matches as a prefix (search while typing): prefixes of 2 and 3
    -- characters have their own index, or a short one (`the`, `de`) would merge the lists of
    -- every word it begins, hundreds of thousands of entries at a million messages.
    prefix = '2 3'
);

-- Searches without words (`from:`, `in:`, `has:link`, dates) list messages newest first by time:
-- this index walks them in that order, from a date bound when there is one.
CREATE INDEX messages_created ON messages(created_at);
