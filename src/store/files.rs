//! Files (issue #12): the rows of uploads (`files`), their attachment to messages, and the trash
//! of blobs that lost a reference (`blob_trash`). The bytes themselves are in a
//! [`super::blobs::BlobStore`]; this module knows only their SHA-256.
//!
//! A file is attached to at most one message: the send that carries it sets `message_id` and
//! `room_id` in the send's own transaction (see [`super::sends`]), so a retried send (same
//! `client_id`) finds its message and attaches nothing again. Deleting a message, clearing or
//! deleting a room deletes the rows of the files they carried and puts their blobs in the trash
//! in the same transaction ([`detach_in`]); the caller then empties the trash, removing each
//! blob nothing refers to any more (and the sweep does, after a crash).

use async_trait::async_trait;

use super::backend::Backend;
use super::dialect::{self, sql, Arg};
use super::file_rows::file_columns;
pub use super::file_rows::{detach_in, file_row, Detach, FileRecord, NewFile};
use super::{new_id, now};
use crate::error::{Error, Result};

/// Files' procedures.
#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Stores a new, unattached upload.
    async fn insert_file(&self, file: &NewFile) -> Result<FileRecord>;
    /// The file with this id; `FileNotFound` when there is none.
    async fn file(&self, id: &str) -> Result<FileRecord>;
    /// Bytes the user's files (attached or not) take: what the quota counts.
    async fn upload_bytes(&self, owner_id: &str) -> Result<u64>;
    /// Whether any file (or its thumbnail) has this SHA-256.
    async fn blob_referenced(&self, sha256: &str) -> Result<bool>;
    /// Deletes one unattached file (a failed upload) and trashes its blobs.
    async fn discard_file(&self, id: &str) -> Result<()>;
    /// The blobs in the trash (at most `limit`).
    async fn trash(&self, limit: u32) -> Result<Vec<String>>;
    /// Takes a blob out of the trash (its bytes were removed, or it is referenced again).
    async fn untrash(&self, sha256: &str) -> Result<()>;
    /// Deletes the files never attached that were uploaded before `before` (RFC 3339), trashing
    /// their blobs; answers how many.
    async fn sweep_unattached(&self, before: &str) -> Result<u64>;
}

#[async_trait]
impl<B: Backend> FileStore for B {
    async fn insert_file(&self, file: &NewFile) -> Result<FileRecord> {
        let record = FileRecord {
            id: new_id(),
            owner_id: file.owner_id.clone(),
            name: file.name.clone(),
            size: file.size,
            content_type: file.content_type.clone(),
            sha256: file.sha256.clone(),
            width: file.width,
            height: file.height,
            thumb_sha256: file.thumb_sha256.clone(),
            message_id: None,
            room_id: None,
            created_at: now(),
        };
        let sql = sql!(
            "INSERT INTO files (id, owner_id, name, size, content_type, sha256, width, height, \
             thumb_sha256, message_id, room_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10)"
        );
        let args = [
            Arg::Text(&record.id),
            Arg::Text(&record.owner_id),
            Arg::Text(&record.name),
            Arg::Int(record.size as i64),
            Arg::Text(&record.content_type),
            Arg::Text(&record.sha256),
            Arg::Int(record.width as i64),
            Arg::Int(record.height as i64),
            Arg::OptText(record.thumb_sha256.as_deref()),
            Arg::Text(&record.created_at),
        ];
        let mut conn = self.write().await?;
        dialect::execute(&mut *conn, &sql, &args).await?;
        Ok(record)
    }

    async fn file(&self, id: &str) -> Result<FileRecord> {
        let mut conn = self.read().await?;
        let sql = sql!("SELECT " file_columns!() " FROM files f WHERE f.id = $1");
        dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(id)], file_row)
            .await?
            .ok_or(Error::FileNotFound)
    }

    async fn upload_bytes(&self, owner_id: &str) -> Result<u64> {
        let mut conn = self.read().await?;
        let sql =
            sql!("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM files WHERE owner_id = $1");
        let sum =
            dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(owner_id)], |row| row.int(0))
                .await?;
        Ok(sum.unwrap_or(0).max(0) as u64)
    }

    async fn blob_referenced(&self, sha256: &str) -> Result<bool> {
        // The writer's pool: a read that sees every commit before it (the removal's check).
        let mut conn = self.write().await?;
        let sql = sql!(
            "SELECT 1 FROM files WHERE sha256 = $1 \
             UNION ALL SELECT 1 FROM files WHERE thumb_sha256 = $1"
        );
        let found =
            dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(sha256)], |_| Ok(())).await?;
        Ok(found.is_some())
    }

    async fn discard_file(&self, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let trash = sql!(
            "INSERT INTO blob_trash (sha256, at) \
             SELECT sha256, $2 FROM files WHERE id = $1 \
             UNION SELECT thumb_sha256, $2 FROM files WHERE id = $1 AND thumb_sha256 IS NOT NULL \
             ON CONFLICT (sha256) DO NOTHING"
        );
        let at = now();
        dialect::execute(&mut *tx, &trash, &[Arg::Text(id), Arg::Text(&at)]).await?;
        let delete = sql!("DELETE FROM files WHERE id = $1 AND message_id IS NULL");
        dialect::execute(&mut *tx, &delete, &[Arg::Text(id)]).await?;
        B::commit(tx).await
    }

    async fn trash(&self, limit: u32) -> Result<Vec<String>> {
        let mut conn = self.write().await?;
        let sql = sql!("SELECT sha256 FROM blob_trash ORDER BY at LIMIT $1");
        dialect::fetch_all(&mut *conn, &sql, &[Arg::Int(limit as i64)], |row| {
            row.text(0)
        })
        .await
    }

    async fn untrash(&self, sha256: &str) -> Result<()> {
        let mut conn = self.write().await?;
        let sql = sql!("DELETE FROM blob_trash WHERE sha256 = $1");
        dialect::execute(&mut *conn, &sql, &[Arg::Text(sha256)]).await?;
        Ok(())
    }

    async fn sweep_unattached(&self, before: &str) -> Result<u64> {
        let mut tx = self.begin().await?;
        let trash = sql!(
            "INSERT INTO blob_trash (sha256, at) \
             SELECT sha256, $2 FROM files WHERE message_id IS NULL AND created_at < $1 \
             UNION SELECT thumb_sha256, $2 FROM files \
             WHERE message_id IS NULL AND created_at < $1 AND thumb_sha256 IS NOT NULL \
             ON CONFLICT (sha256) DO NOTHING"
        );
        let at = now();
        dialect::execute(&mut *tx, &trash, &[Arg::Text(before), Arg::Text(&at)]).await?;
        let delete = sql!("DELETE FROM files WHERE message_id IS NULL AND created_at < $1");
        let deleted = dialect::execute(&mut *tx, &delete, &[Arg::Text(before)]).await?;
        B::commit(tx).await?;
        Ok(deleted)
    }
}
