-- Unread counts skip thread replies (issue #10: `unread` counts others' room messages, and a
-- thread reply is not one). The partial index of 0009 gains that condition so the count still
-- reads only index entries.
DROP INDEX messages_unread;
CREATE INDEX messages_unread ON messages(room_id, seq, author_id)
    WHERE deleted = 0 AND thread_id IS NULL;
