-- Files (issue #12). An upload is a row of `files`; its bytes (and its thumbnail's) are blobs,
-- content-addressed by SHA-256: on disk under the data dir (embedded) or in `blob_chunks`
-- (PostgreSQL). A file is attached to at most one message (`message_id`, set by the send that
-- carries it, in the send's transaction); deleting the message deletes the row and puts its
-- blobs in `blob_trash`, emptied after the commit once nothing else refers to them.
-- Unattached uploads older than a few hours are swept.
CREATE TABLE files (
    id            TEXT PRIMARY KEY,
    owner_id      TEXT NOT NULL,
    name          TEXT NOT NULL,
    size          BIGINT NOT NULL,
    content_type  TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    width         BIGINT NOT NULL,              -- 0: not an image
    height        BIGINT NOT NULL,
    thumb_sha256  TEXT,
    message_id    TEXT,
    room_id       TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX files_owner ON files(owner_id);
CREATE INDEX files_sha256 ON files(sha256);
CREATE INDEX files_thumb ON files(thumb_sha256);
CREATE INDEX files_message ON files(message_id);
CREATE INDEX files_unattached ON files(created_at) WHERE message_id IS NULL;

-- Blobs that lost a reference: checked and removed after the commit (and by the sweep).
CREATE TABLE blob_trash (
    sha256 TEXT PRIMARY KEY,
    at     TEXT NOT NULL
);

-- The PostgreSQL blob store's bytes, 256 KiB a row (unused by the embedded store, which keeps
-- blobs as files). `blob_key` is a SHA-256, or `tmp-<id>` while an upload is streaming in.
CREATE TABLE blob_chunks (
    blob_key TEXT NOT NULL,
    n        BIGINT NOT NULL,
    data     BYTEA NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (blob_key, n)
);

-- The attachments of a message, as its wire objects (a JSON array), written once by the send.
ALTER TABLE messages ADD COLUMN attachments TEXT;
