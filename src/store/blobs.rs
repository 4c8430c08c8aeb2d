//! The bytes of files (issue #12), content-addressed by SHA-256, in one of three backends (the
//! third, [`super::s3blobs::S3Blobs`], an S3-compatible bucket, has its own module):
//!
//! - [`DiskBlobs`] (embedded): one file per blob under `<data dir>/files/<first two hex
//!   digits>/<sha256>`. An upload streams into a temporary file (`files/tmp/`), which is
//!   fsynced, then renamed into place and its directory fsynced, all before the upload is
//!   answered (so before any message can carry it).
//! - [`PgBlobs`] (cluster): rows of `blob_chunks`, [`CHUNK`] bytes each, in the shared
//!   PostgreSQL database, so every node reaches every file. An upload streams in under a
//!   temporary key (`tmp-<id>`), one chunk per statement, and is renamed to its SHA-256; a read
//!   streams one chunk per query. A blob is never whole in memory.
//!
//! Both order a blob's arrival and removal the same way, so that a removal never takes bytes a
//! new file refers to: the uploader records its file row first, then [`BlobStore::promote`]s
//! the staged bytes; a removal ([`BlobStore::remove_unreferenced`]) checks that no file row
//! refers to the blob and removes it, both under one lock (a mutex on this node for the disk;
//! a PostgreSQL advisory lock per blob, taken by every node, for the database).
//!
//! Temporaries left by a crash (a half upload) are never visible (no file row names them) and
//! are removed by [`BlobStore::sweep_temporaries`].

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::files::FileStore;
use super::postgres::db_err;
use crate::error::{Error, Result};

/// Bytes per `blob_chunks` row, and per read of a disk blob.
pub const CHUNK: usize = 256 * 1024;

/// A blob's bytes, as they stream out.
pub type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + 'static>>;

/// An upload's bytes, durable but not yet in place: [`BlobStore::promote`] or
/// [`BlobStore::discard`] it.
#[derive(Debug, Clone)]
pub struct Staged {
    pub sha256: String,
    pub size: u64,
    /// The temporary's name (a path, a `blob_chunks` key, or an object's key).
    pub(super) temp: String,
}

/// Where blobs live.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Starts a new blob.
    async fn create(&self) -> Result<Box<dyn BlobWriter>>;
    /// Moves a staged blob into place under its SHA-256 (a no-op for bytes already there).
    async fn promote(&self, staged: &Staged) -> Result<()>;
    /// Drops a staged blob.
    async fn discard(&self, staged: &Staged);
    /// The bytes `start..end` of the blob.
    async fn read(&self, sha256: &str, start: u64, end: u64) -> Result<BlobStream>;
    /// The whole blob in memory, for what must have it so (decoding an image); refused over
    /// `max` bytes.
    async fn read_all(&self, sha256: &str, max: u64) -> Result<Vec<u8>>;
    /// Removes the blob if no file refers to it; `true` when it is gone (or was never there).
    async fn remove_unreferenced(&self, sha256: &str, files: &dyn FileStore) -> Result<bool>;
    /// Whether the blob's bytes are there (for tests and checks).
    async fn exists(&self, sha256: &str) -> Result<bool>;
    /// The blob's length in bytes.
    async fn size(&self, sha256: &str) -> Result<u64>;
    /// Removes the temporaries of uploads that began more than `age` ago (a crash, a client
    /// gone halfway); answers how many.
    async fn sweep_temporaries(&self, age: Duration) -> Result<u64>;
}

/// One blob being written.
#[async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, bytes: &[u8]) -> Result<()>;
    /// Everything is written: make it durable and answer its name.
    async fn finish(self: Box<Self>) -> Result<Staged>;
    /// The upload failed: remove what was written.
    async fn abort(self: Box<Self>);
}

/// A valid blob name: 64 lowercase hex digits (never a path).
pub fn valid_sha256(sha256: &str) -> bool {
    sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(super) fn hex(digest: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn io_err(context: &str, err: std::io::Error) -> Error {
    Error::Internal(anyhow::anyhow!("{context}: {err}"))
}

// ---------------------------------------------------------------------------------------------
// Disk

/// Blobs as files under the data dir.
pub struct DiskBlobs {
    root: PathBuf,
    /// Orders promotions and removals (see the module doc).
    lock: tokio::sync::Mutex<()>,
}

impl DiskBlobs {
    /// Blobs under `<data_dir>/files`, made if missing.
    pub fn open(data_dir: &Path) -> anyhow::Result<Arc<DiskBlobs>> {
        let root = data_dir.join("files");
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(Arc::new(DiskBlobs {
            root,
            lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// Where the blob's file is (the name must be valid).
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2]).join(sha256)
    }

    fn checked_path(&self, sha256: &str) -> Result<PathBuf> {
        if !valid_sha256(sha256) {
            return Err(Error::Internal(anyhow::anyhow!("bad blob name {sha256:?}")));
        }
        Ok(self.path_of(sha256))
    }
}

/// fsyncs a directory, so an entry made or renamed in it survives a crash.
async fn sync_dir(dir: &Path) -> Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(|err| Error::Internal(err.into()))?
        .map_err(|err| io_err("syncing a blob directory", err))
}

struct DiskWriter {
    path: PathBuf,
    file: tokio::fs::File,
    hash: Sha256,
    size: u64,
}

#[async_trait]
impl BlobWriter for DiskWriter {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hash.update(bytes);
        self.size += bytes.len() as u64;
        self.file
            .write_all(bytes)
            .await
            .map_err(|err| io_err("writing an upload", err))
    }

    async fn finish(mut self: Box<Self>) -> Result<Staged> {
        let done = async {
            self.file.flush().await?;
            self.file.sync_all().await
        }
        .await;
        if let Err(err) = done {
            let _ = tokio::fs::remove_file(&self.path).await;
            return Err(io_err("syncing an upload", err));
        }
        Ok(Staged {
            sha256: hex(&self.hash.finalize_reset()),
            size: self.size,
            temp: self.path.to_string_lossy().into_owned(),
        })
    }

    async fn abort(self: Box<Self>) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

#[async_trait]
impl BlobStore for DiskBlobs {
    async fn create(&self) -> Result<Box<dyn BlobWriter>> {
        let path = self.root.join("tmp").join(super::new_id());
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|err| io_err("starting an upload", err))?;
        Ok(Box::new(DiskWriter {
            path,
            file,
            hash: Sha256::new(),
            size: 0,
        }))
    }

    async fn promote(&self, staged: &Staged) -> Result<()> {
        let target = self.checked_path(&staged.sha256)?;
        let dir = target
            .parent()
            .expect("a blob has a directory")
            .to_path_buf();
        let _order = self.lock.lock().await;
        if tokio::fs::try_exists(&target).await.unwrap_or(false) {
            // The same bytes are there already (content addressing).
            let _ = tokio::fs::remove_file(&staged.temp).await;
            return Ok(());
        }
        if !tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|err| io_err("making a blob directory", err))?;
            sync_dir(&self.root).await?;
        }
        tokio::fs::rename(&staged.temp, &target)
            .await
            .map_err(|err| io_err("moving an upload into place", err))?;
        sync_dir(&dir).await
    }

    async fn discard(&self, staged: &Staged) {
        let _ = tokio::fs::remove_file(&staged.temp).await;
    }

    async fn read(&self, sha256: &str, start: u64, end: u64) -> Result<BlobStream> {
        let path = self.checked_path(sha256)?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|err| io_err("opening a blob", err))?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|err| io_err("seeking in a blob", err))?;
        let limited = file.take(end.saturating_sub(start));
        Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(
            limited, CHUNK,
        )))
    }

    async fn read_all(&self, sha256: &str, max: u64) -> Result<Vec<u8>> {
        let path = self.checked_path(sha256)?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|err| io_err("opening a blob", err))?;
        let mut out = Vec::new();
        file.take(max + 1)
            .read_to_end(&mut out)
            .await
            .map_err(|err| io_err("reading a blob", err))?;
        if out.len() as u64 > max {
            return Err(Error::FileTooLarge { max });
        }
        Ok(out)
    }

    async fn remove_unreferenced(&self, sha256: &str, files: &dyn FileStore) -> Result<bool> {
        let path = self.checked_path(sha256)?;
        let _order = self.lock.lock().await;
        if files.blob_referenced(sha256).await? {
            return Ok(false);
        }
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(err) => Err(io_err("removing a blob", err)),
        }
    }

    async fn exists(&self, sha256: &str) -> Result<bool> {
        let path = self.checked_path(sha256)?;
        Ok(tokio::fs::try_exists(&path).await.unwrap_or(false))
    }

    async fn size(&self, sha256: &str) -> Result<u64> {
        let path = self.checked_path(sha256)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|err| io_err("reading a blob's size", err))?;
        Ok(meta.len())
    }

    async fn sweep_temporaries(&self, age: Duration) -> Result<u64> {
        let tmp = self.root.join("tmp");
        let cutoff = SystemTime::now() - age;
        let mut entries = tokio::fs::read_dir(&tmp)
            .await
            .map_err(|err| io_err("listing upload temporaries", err))?;
        let mut removed = 0;
        while let Ok(Some(entry)) = entries.next_entry().await {
            let old = entry
                .metadata()
                .await
                .and_then(|m| m.modified())
                .is_ok_and(|at| at < cutoff);
            if old && tokio::fs::remove_file(entry.path()).await.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// Blobs as `blob_chunks` rows in the shared database.
pub struct PgBlobs {
    pool: PgPool,
}

impl PgBlobs {
    pub fn new(pool: PgPool) -> Arc<PgBlobs> {
        Arc::new(PgBlobs { pool })
    }
}

/// The advisory lock of one blob, held to the end of the transaction.
pub(super) const LOCK_BLOB: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 12))";

struct PgWriter {
    pool: PgPool,
    key: String,
    buffer: Vec<u8>,
    next: i64,
    hash: Sha256,
    size: u64,
}

impl PgWriter {
    async fn flush_chunk(&mut self) -> Result<()> {
        sqlx::query("INSERT INTO blob_chunks (blob_key, n, data, at) VALUES ($1, $2, $3, $4)")
            .bind(&self.key)
            .bind(self.next)
            .bind(&self.buffer[..])
            .bind(super::now())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        self.next += 1;
        self.buffer.clear();
        Ok(())
    }

    async fn remove(&self) {
        let _ = sqlx::query("DELETE FROM blob_chunks WHERE blob_key = $1")
            .bind(&self.key)
            .execute(&self.pool)
            .await;
    }
}

#[async_trait]
impl BlobWriter for PgWriter {
    async fn write(&mut self, mut bytes: &[u8]) -> Result<()> {
        self.hash.update(bytes);
        self.size += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = (CHUNK - self.buffer.len()).min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buffer.len() == CHUNK {
                if let Err(err) = self.flush_chunk().await {
                    self.remove().await;
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<Staged> {
        // The last (possibly empty) chunk: every blob has chunk 0, so an empty one exists too.
        if !self.buffer.is_empty() || self.next == 0 {
            if let Err(err) = self.flush_chunk().await {
                self.remove().await;
                return Err(err);
            }
        }
        Ok(Staged {
            sha256: hex(&self.hash.finalize_reset()),
            size: self.size,
            temp: self.key.clone(),
        })
    }

    async fn abort(self: Box<Self>) {
        self.remove().await;
    }
}

#[async_trait]
impl BlobStore for PgBlobs {
    async fn create(&self) -> Result<Box<dyn BlobWriter>> {
        Ok(Box::new(PgWriter {
            pool: self.pool.clone(),
            key: format!("tmp-{}", super::new_id()),
            buffer: Vec::with_capacity(CHUNK),
            next: 0,
            hash: Sha256::new(),
            size: 0,
        }))
    }

    async fn promote(&self, staged: &Staged) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(LOCK_BLOB)
            .bind(&staged.sha256)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let there: Option<i64> =
            sqlx::query_scalar("SELECT n FROM blob_chunks WHERE blob_key = $1 AND n = 0")
                .bind(&staged.sha256)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let sql = if there.is_some() {
            "DELETE FROM blob_chunks WHERE blob_key = $2 AND $1 <> ''"
        } else {
            "UPDATE blob_chunks SET blob_key = $1 WHERE blob_key = $2"
        };
        sqlx::query(sql)
            .bind(&staged.sha256)
            .bind(&staged.temp)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn discard(&self, staged: &Staged) {
        let _ = sqlx::query("DELETE FROM blob_chunks WHERE blob_key = $1")
            .bind(&staged.temp)
            .execute(&self.pool)
            .await;
    }

    async fn read(&self, sha256: &str, start: u64, end: u64) -> Result<BlobStream> {
        let pool = self.pool.clone();
        let key = sha256.to_string();
        let chunk = CHUNK as u64;
        // One query per chunk, as the body is written: never more than a chunk in memory.
        let state = (start, end);
        let stream = futures_util::stream::unfold(state, move |(at, end)| {
            let (pool, key) = (pool.clone(), key.clone());
            async move {
                if at >= end {
                    return None;
                }
                let n = (at / chunk) as i64;
                let row: std::result::Result<Option<Vec<u8>>, sqlx::Error> = sqlx::query_scalar(
                    "SELECT data FROM blob_chunks WHERE blob_key = $1 AND n = $2",
                )
                .bind(&key)
                .bind(n)
                .fetch_optional(&pool)
                .await;
                let data = match row {
                    Ok(Some(data)) => data,
                    Ok(None) => {
                        let err = std::io::Error::other(format!("blob {key} lacks chunk {n}"));
                        return Some((Err(err), (end, end)));
                    }
                    Err(err) => return Some((Err(std::io::Error::other(err)), (end, end))),
                };
                let from = (at - n as u64 * chunk) as usize;
                let to = ((end - n as u64 * chunk) as usize).min(data.len());
                if from >= to {
                    let err = std::io::Error::other(format!("blob {key} is shorter than asked"));
                    return Some((Err(err), (end, end)));
                }
                let piece = Bytes::copy_from_slice(&data[from..to]);
                let next = at + piece.len() as u64;
                Some((Ok(piece), (next, end)))
            }
        });
        Ok(Box::pin(stream))
    }

    async fn read_all(&self, sha256: &str, max: u64) -> Result<Vec<u8>> {
        use futures_util::TryStreamExt;
        let mut rows = sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT data FROM blob_chunks WHERE blob_key = $1 ORDER BY n",
        )
        .bind(sha256)
        .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(data) = rows.try_next().await.map_err(db_err)? {
            out.extend_from_slice(&data);
            if out.len() as u64 > max {
                return Err(Error::FileTooLarge { max });
            }
        }
        Ok(out)
    }

    async fn remove_unreferenced(&self, sha256: &str, _files: &dyn FileStore) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(LOCK_BLOB)
            .bind(sha256)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // A fresh snapshot after the lock: sees every file row committed before it.
        let referenced: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM files WHERE sha256 = $1 OR thumb_sha256 = $1 LIMIT 1",
        )
        .bind(sha256)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if referenced.is_some() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM blob_chunks WHERE blob_key = $1")
            .bind(sha256)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn exists(&self, sha256: &str) -> Result<bool> {
        let there: Option<i64> =
            sqlx::query_scalar("SELECT n FROM blob_chunks WHERE blob_key = $1 AND n = 0")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(there.is_some())
    }

    async fn size(&self, sha256: &str) -> Result<u64> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT SUM(length(data))::bigint FROM blob_chunks WHERE blob_key = $1",
        )
        .bind(sha256)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(size.unwrap_or(0).max(0) as u64)
    }

    async fn sweep_temporaries(&self, age: Duration) -> Result<u64> {
        let before = super::timestamp(
            chrono::Utc::now() - chrono::Duration::from_std(age).unwrap_or_default(),
        );
        // A temporary's chunks all carry times at or after its first one: the upload is old
        // when its first chunk is.
        let done = sqlx::query(
            "DELETE FROM blob_chunks WHERE blob_key IN (SELECT blob_key FROM blob_chunks \
             WHERE blob_key LIKE 'tmp-%' AND n = 0 AND at < $1)",
        )
        .bind(before)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}
