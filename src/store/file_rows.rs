//! The rows of files (issue #12) and what other procedures do to them inside their own
//! transactions: the send attaches files ([`files_in`], [`attach_in`], in [`super::sends`]);
//! deleting a message, clearing or deleting a room detaches them ([`detach_in`]). Kept apart
//! from [`super::files`] (the `FileStore` interface over a backend) so that the send path does
//! not depend on the backend.

use super::dialect::{self, sql, Arg, Conn, ReadRow};
use super::now;
use crate::error::{Error, Result};
use crate::protocol::FileInfo;

/// An upload as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub sha256: String,
    /// Pixels, for images; 0 when not known.
    pub width: u32,
    pub height: u32,
    pub thumb_sha256: Option<String>,
    /// The message (and its room) that carries it; `None` until a send attaches it.
    pub message_id: Option<String>,
    pub room_id: Option<String>,
    pub created_at: String,
}

impl FileRecord {
    /// The wire object.
    pub fn info(&self) -> FileInfo {
        let dims = self.width > 0 && self.height > 0;
        FileInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            width: dims.then_some(self.width),
            height: dims.then_some(self.height),
            url: format!("/api/files/{}", self.id),
            thumbnail_url: self
                .thumb_sha256
                .as_ref()
                .map(|_| format!("/api/files/{}/thumbnail", self.id)),
        }
    }
}

/// A new upload, its bytes already durable under `sha256` (see [`super::blobs`]).
#[derive(Debug, Clone)]
pub struct NewFile {
    pub owner_id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    pub thumb_sha256: Option<String>,
}

/// The columns of a file (`files f`), read by [`file_row`].
macro_rules! file_columns {
    () => {
        "f.id, f.owner_id, f.name, f.size, f.content_type, f.sha256, f.width, f.height, \
         f.thumb_sha256, f.message_id, f.room_id, f.created_at"
    };
}
pub(crate) use file_columns;

pub fn file_row(row: &dyn ReadRow) -> Result<FileRecord> {
    Ok(FileRecord {
        id: row.text(0)?,
        owner_id: row.text(1)?,
        name: row.text(2)?,
        size: row.int(3)?.max(0) as u64,
        content_type: row.text(4)?,
        sha256: row.text(5)?,
        width: row.int(6)?.clamp(0, u32::MAX as i64) as u32,
        height: row.int(7)?.clamp(0, u32::MAX as i64) as u32,
        thumb_sha256: row.opt_text(8)?,
        message_id: row.opt_text(9)?,
        room_id: row.opt_text(10)?,
        created_at: row.text(11)?,
    })
}

/// Which attached files a change removes.
pub enum Detach<'a> {
    /// The files of one message.
    Message(&'a str),
    /// The files of every message of the room.
    Room(&'a str),
}

/// Deletes the rows of the files a deleted message (or a cleared or deleted room) carried and
/// puts their blobs in the trash, in the caller's transaction.
pub async fn detach_in<C: Conn>(conn: &mut C, which: Detach<'_>) -> Result<()> {
    let (trash, delete, id) = match which {
        Detach::Message(id) => (
            sql!(
                "INSERT INTO blob_trash (sha256, at) \
                 SELECT sha256, $2 FROM files WHERE message_id = $1 \
                 UNION SELECT thumb_sha256, $2 FROM files \
                 WHERE message_id = $1 AND thumb_sha256 IS NOT NULL \
                 ON CONFLICT (sha256) DO NOTHING"
            ),
            sql!("DELETE FROM files WHERE message_id = $1"),
            id,
        ),
        Detach::Room(id) => (
            sql!(
                "INSERT INTO blob_trash (sha256, at) \
                 SELECT sha256, $2 FROM files WHERE room_id = $1 \
                 UNION SELECT thumb_sha256, $2 FROM files \
                 WHERE room_id = $1 AND thumb_sha256 IS NOT NULL \
                 ON CONFLICT (sha256) DO NOTHING"
            ),
            sql!("DELETE FROM files WHERE room_id = $1"),
            id,
        ),
    };
    let at = now();
    dialect::execute(conn, &trash, &[Arg::Text(id), Arg::Text(&at)]).await?;
    dialect::execute(conn, &delete, &[Arg::Text(id)]).await?;
    Ok(())
}

/// The files a send attaches, by id, in the caller's transaction: `None` for an id that is not
/// a file.
pub async fn files_in<C: Conn>(
    conn: &mut C,
    ids: &[String],
) -> std::result::Result<Vec<Option<FileRecord>>, dialect::DbError> {
    let sql = sql!("SELECT " file_columns!() " FROM files f WHERE f.id = $1");
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(dialect::fetch_optional(conn, &sql, &[Arg::Text(id)], file_row).await?);
    }
    Ok(out)
}

/// Marks the files as carried by the message, in the send's transaction.
pub async fn attach_in<C: Conn>(
    conn: &mut C,
    ids: &[String],
    message_id: &str,
    room_id: &str,
) -> std::result::Result<(), dialect::DbError> {
    let sql =
        sql!("UPDATE files SET message_id = $1, room_id = $2 WHERE id = $3 AND message_id IS NULL");
    for id in ids {
        let args = [Arg::Text(message_id), Arg::Text(room_id), Arg::Text(id)];
        let changed = dialect::execute(conn, &sql, &args).await?;
        if changed != 1 {
            return Err(
                Error::InvalidAttachments("a file is already attached to a message").into(),
            );
        }
    }
    Ok(())
}
