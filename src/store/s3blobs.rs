//! The bytes of files (issue #12) in an S3-compatible object store, a store every node of a
//! cluster reaches: [`S3Blobs`], chosen by `PALAVER_FILES_URL=s3://BUCKET/optional/prefix`,
//! through the `object_store` crate (Apache Arrow).
//!
//! Keys, under the URL's prefix: `<first two hex digits>/<sha256>` for a blob (as on disk), and
//! `tmp/<id>` for an upload in flight. An upload is never whole in memory: it is buffered up to
//! one part ([`PART`] bytes); a smaller one is written with one PUT when it ends, a larger one as
//! a multipart upload, one part at a time. Its multipart upload id is written first beside it
//! (`tmp/<id>.multipart`), so that the sweep can abort a multipart upload a crash left behind
//! (S3 lists no objects for an unfinished multipart upload, and `object_store` cannot list the
//! unfinished uploads themselves). A finished upload is staged as the object `tmp/<id>`, and
//! promoted by a server-side copy to its SHA-256 key and a delete of the temporary.
//!
//! The order of a blob's arrival and removal is the other backends' (see [`super::blobs`]):
//! the promotion and the removal each run under one lock per blob, a PostgreSQL advisory lock
//! (the same key as [`super::blobs::PgBlobs`]) when the store is PostgreSQL (every node takes
//! it), a mutex on this node otherwise.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    ClientOptions, GetOptions, GetRange, MultipartId, ObjectStore, ObjectStoreExt, PutPayload,
    RetryConfig,
};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::blobs::{hex, valid_sha256, BlobStore, BlobStream, BlobWriter, Staged, LOCK_BLOB};
use super::files::FileStore;
use super::postgres::db_err;
use crate::error::{Error, Result};

/// Bytes of one part of a multipart upload, and most an upload buffers: S3's least part size
/// (every part but the last must be at least 5 MiB).
pub const PART: usize = 5 * 1024 * 1024;

/// How to reach the bucket (`PALAVER_FILES_URL` and the `PALAVER_S3_*` settings).
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// `s3://BUCKET` or `s3://BUCKET/prefix/of/keys`.
    pub url: String,
    /// The server's URL, for a store other than AWS (`http://127.0.0.1:9000`); `http://` is
    /// allowed only when named here.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// Who orders promotions and removals (see the module doc).
pub enum BlobLock {
    /// A single node (the SQLite store): a mutex here.
    Node(tokio::sync::Mutex<()>),
    /// A cluster on PostgreSQL: an advisory lock per blob in the shared database.
    Postgres(PgPool),
}

enum Held<'a> {
    Node(#[allow(dead_code)] tokio::sync::MutexGuard<'a, ()>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Held<'_> {
    /// Releases the lock (a transaction is ended now, not whenever its connection is reused).
    async fn release(self) {
        if let Held::Postgres(tx) = self {
            let _ = tx.commit().await;
        }
    }
}

/// Blobs as objects in an S3-compatible bucket.
pub struct S3Blobs {
    s3: Arc<AmazonS3>,
    /// The URL's prefix (empty: the bucket's root).
    root: Path,
    lock: BlobLock,
}

/// A failure of the object store: the files are out of reach (503 `unavailable`).
fn s3_err(context: &str, err: object_store::Error) -> Error {
    Error::Unavailable(anyhow::anyhow!("{context}: {err}"))
}

fn is_not_found(err: &object_store::Error) -> bool {
    matches!(err, object_store::Error::NotFound { .. })
}

/// Splits `s3://BUCKET/prefix` into the bucket and the prefix.
pub fn parse_url(url: &str) -> anyhow::Result<(String, Path)> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        anyhow::anyhow!("PALAVER_FILES_URL must be s3://BUCKET[/prefix], not {url:?}")
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        anyhow::bail!("PALAVER_FILES_URL names no bucket: {url:?}");
    }
    let prefix = Path::parse(prefix.trim_matches('/'))
        .map_err(|err| anyhow::anyhow!("PALAVER_FILES_URL's prefix is not a valid key: {err}"))?;
    Ok((bucket.to_string(), prefix))
}

impl S3Blobs {
    /// Connects to the bucket (credentials and region from the settings, else the standard
    /// `AWS_*` variables) and checks that it answers.
    pub async fn connect(settings: &S3Settings, lock: BlobLock) -> anyhow::Result<Arc<S3Blobs>> {
        let (bucket, root) = parse_url(&settings.url)?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            })
            // A download streams as fast as its reader takes it: no deadline on the whole
            // request, only on connecting.
            .with_client_options(
                ClientOptions::new()
                    .with_timeout_disabled()
                    .with_connect_timeout(Duration::from_secs(5)),
            );
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &settings.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let s3 = builder.build()?;
        let blobs = S3Blobs {
            s3: Arc::new(s3),
            root,
            lock,
        };
        // Reaching the bucket: a key that is never written answers "not found".
        match blobs
            .s3
            .head(&blobs.root.clone().join(".palaver-check"))
            .await
        {
            Ok(_) => {}
            Err(err) if is_not_found(&err) => {}
            Err(err) => anyhow::bail!("reaching the bucket of {}: {err}", settings.url),
        }
        Ok(Arc::new(blobs))
    }

    /// The key of a blob (the name must be valid).
    pub fn key_of(&self, sha256: &str) -> String {
        self.blob_path(sha256).to_string()
    }

    fn blob_path(&self, sha256: &str) -> Path {
        self.root.clone().join(&sha256[..2]).join(sha256)
    }

    fn checked_path(&self, sha256: &str) -> Result<Path> {
        if !valid_sha256(sha256) {
            return Err(Error::Internal(anyhow::anyhow!("bad blob name {sha256:?}")));
        }
        Ok(self.blob_path(sha256))
    }

    fn tmp(&self) -> Path {
        self.root.clone().join("tmp")
    }

    /// The keys under `tmp/` (temporaries and multipart records), for tests and checks.
    pub async fn temporaries(&self) -> Result<Vec<String>> {
        let listed: Vec<_> = self
            .s3
            .list(Some(&self.tmp()))
            .try_collect()
            .await
            .map_err(|err| s3_err("listing upload temporaries", err))?;
        Ok(listed.into_iter().map(|m| m.location.to_string()).collect())
    }

    async fn lock(&self, sha256: &str) -> Result<Held<'_>> {
        match &self.lock {
            BlobLock::Node(mutex) => Ok(Held::Node(mutex.lock().await)),
            BlobLock::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(db_err)?;
                sqlx::query(LOCK_BLOB)
                    .bind(sha256)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                Ok(Held::Postgres(tx))
            }
        }
    }

    async fn delete_quietly(&self, path: &Path) {
        match self.s3.delete(path).await {
            Ok(()) => {}
            Err(err) if is_not_found(&err) => {}
            Err(err) => tracing::warn!(key = %path, error = %err, "removing an object failed"),
        }
    }
}

/// The record of a multipart upload in flight, beside its temporary.
fn multipart_record(temp: &Path) -> Path {
    Path::from(format!("{temp}.multipart"))
}

struct S3Writer {
    s3: Arc<AmazonS3>,
    temp: Path,
    /// At most one part.
    buffer: Vec<u8>,
    /// The multipart upload, once the upload outgrew one part.
    multipart: Option<(MultipartId, Vec<PartId>)>,
    hash: Sha256,
    size: u64,
}

impl S3Writer {
    /// Sends the buffer as the next part, beginning the multipart upload if it has not begun.
    async fn send_part(&mut self) -> Result<()> {
        if self.multipart.is_none() {
            let id = self
                .s3
                .create_multipart(&self.temp)
                .await
                .map_err(|err| s3_err("beginning a multipart upload", err))?;
            // Recorded before any part is sent: a crash after this leaves the sweep the id.
            let recorded = self
                .s3
                .put(&multipart_record(&self.temp), PutPayload::from(id.clone()))
                .await;
            if let Err(err) = recorded {
                let _ = self.s3.abort_multipart(&self.temp, &id).await;
                return Err(s3_err("recording a multipart upload", err));
            }
            self.multipart = Some((id, Vec::new()));
        }
        let part = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(PART),
        ));
        let (id, parts) = self.multipart.as_mut().expect("begun above");
        let done = self
            .s3
            .put_part(&self.temp, id, parts.len(), PutPayload::from(part))
            .await
            .map_err(|err| s3_err("sending a part of an upload", err))?;
        parts.push(done);
        Ok(())
    }

    /// Removes whatever the upload left: its multipart upload and record, or its object.
    async fn remove(&mut self) {
        if let Some((id, _)) = self.multipart.take() {
            let _ = self.s3.abort_multipart(&self.temp, &id).await;
            let _ = self.s3.delete(&multipart_record(&self.temp)).await;
        }
        let _ = self.s3.delete(&self.temp).await;
    }

    async fn complete(&mut self) -> Result<()> {
        match &self.multipart {
            None => {
                let body = Bytes::from(std::mem::take(&mut self.buffer));
                self.s3
                    .put(&self.temp, PutPayload::from(body))
                    .await
                    .map_err(|err| s3_err("storing an upload", err))?;
            }
            Some(_) => {
                if !self.buffer.is_empty() {
                    self.send_part().await?;
                }
                let (id, parts) = self.multipart.take().expect("begun");
                let completed = self
                    .s3
                    .complete_multipart(&self.temp, &id, parts)
                    .await
                    .map_err(|err| s3_err("completing a multipart upload", err));
                if let Err(err) = completed {
                    self.multipart = Some((id, Vec::new()));
                    return Err(err);
                }
                // The upload is an object now: its record is no longer needed.
                let _ = self.s3.delete(&multipart_record(&self.temp)).await;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, mut bytes: &[u8]) -> Result<()> {
        self.hash.update(bytes);
        self.size += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = (PART - self.buffer.len()).min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buffer.len() == PART {
                if let Err(err) = self.send_part().await {
                    self.remove().await;
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<Staged> {
        if let Err(err) = self.complete().await {
            self.remove().await;
            return Err(err);
        }
        Ok(Staged {
            sha256: hex(&self.hash.finalize_reset()),
            size: self.size,
            temp: self.temp.to_string(),
        })
    }

    async fn abort(mut self: Box<Self>) {
        self.remove().await;
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn create(&self) -> Result<Box<dyn BlobWriter>> {
        Ok(Box::new(S3Writer {
            s3: self.s3.clone(),
            temp: self.tmp().join(super::new_id()),
            buffer: Vec::new(),
            multipart: None,
            hash: Sha256::new(),
            size: 0,
        }))
    }

    async fn promote(&self, staged: &Staged) -> Result<()> {
        let target = self.checked_path(&staged.sha256)?;
        let temp = Path::from(staged.temp.as_str());
        let held = self.lock(&staged.sha256).await?;
        let there = match self.s3.head(&target).await {
            Ok(_) => true,
            Err(err) if is_not_found(&err) => false,
            Err(err) => {
                held.release().await;
                return Err(s3_err("looking for a blob", err));
            }
        };
        // The same bytes are there already (content addressing), or a server-side copy.
        let copied = if there {
            Ok(())
        } else {
            self.s3
                .copy(&temp, &target)
                .await
                .map_err(|err| s3_err("moving an upload into place", err))
        };
        held.release().await;
        copied?;
        self.delete_quietly(&temp).await;
        Ok(())
    }

    async fn discard(&self, staged: &Staged) {
        self.delete_quietly(&Path::from(staged.temp.as_str())).await;
    }

    async fn read(&self, sha256: &str, start: u64, end: u64) -> Result<BlobStream> {
        let path = self.checked_path(sha256)?;
        if start >= end {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(start..end)),
            ..GetOptions::default()
        };
        let got = self.s3.get_opts(&path, options).await.map_err(|err| {
            if is_not_found(&err) {
                Error::Internal(anyhow::anyhow!("blob {sha256} is missing from the bucket"))
            } else {
                s3_err("reading a blob", err)
            }
        })?;
        // The body as it arrives from the store, never whole in memory.
        Ok(Box::pin(
            got.into_stream()
                .map(|piece| piece.map_err(std::io::Error::other)),
        ))
    }

    async fn read_all(&self, sha256: &str, max: u64) -> Result<Vec<u8>> {
        let path = self.checked_path(sha256)?;
        let got = self
            .s3
            .get(&path)
            .await
            .map_err(|err| s3_err("reading a blob", err))?;
        if got.meta.size > max {
            return Err(Error::FileTooLarge { max });
        }
        let mut stream = got.into_stream();
        let mut out = Vec::new();
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|err| s3_err("reading a blob", err))?;
            out.extend_from_slice(&piece);
            if out.len() as u64 > max {
                return Err(Error::FileTooLarge { max });
            }
        }
        Ok(out)
    }

    async fn remove_unreferenced(&self, sha256: &str, files: &dyn FileStore) -> Result<bool> {
        let path = self.checked_path(sha256)?;
        let mut held = self.lock(sha256).await?;
        // After the lock: every file row committed before it is seen.
        let referenced = match &mut held {
            Held::Node(_) => files.blob_referenced(sha256).await,
            Held::Postgres(tx) => sqlx::query_scalar::<_, i32>(
                "SELECT 1 FROM files WHERE sha256 = $1 OR thumb_sha256 = $1 LIMIT 1",
            )
            .bind(sha256)
            .fetch_optional(&mut **tx)
            .await
            .map(|row| row.is_some())
            .map_err(db_err),
        };
        let outcome = match referenced {
            Ok(true) => Ok(false),
            Ok(false) => match self.s3.delete(&path).await {
                Ok(()) => Ok(true),
                Err(err) if is_not_found(&err) => Ok(true),
                Err(err) => Err(s3_err("removing a blob", err)),
            },
            Err(err) => Err(err),
        };
        held.release().await;
        outcome
    }

    async fn exists(&self, sha256: &str) -> Result<bool> {
        let path = self.checked_path(sha256)?;
        match self.s3.head(&path).await {
            Ok(_) => Ok(true),
            Err(err) if is_not_found(&err) => Ok(false),
            Err(err) => Err(s3_err("looking for a blob", err)),
        }
    }

    async fn size(&self, sha256: &str) -> Result<u64> {
        let path = self.checked_path(sha256)?;
        let meta = self
            .s3
            .head(&path)
            .await
            .map_err(|err| s3_err("reading a blob's size", err))?;
        Ok(meta.size)
    }

    async fn sweep_temporaries(&self, age: Duration) -> Result<u64> {
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(age).unwrap_or_default();
        let listed: Vec<_> = self
            .s3
            .list(Some(&self.tmp()))
            .try_collect()
            .await
            .map_err(|err| s3_err("listing upload temporaries", err))?;
        let mut removed = 0;
        for meta in listed.into_iter().filter(|m| m.last_modified <= cutoff) {
            let key = meta.location.to_string();
            if let Some(temp) = key.strip_suffix(".multipart") {
                // A multipart upload a crash left: abort it (its parts go), then its record.
                let temp = Path::from(temp);
                match self.s3.get(&meta.location).await {
                    Ok(got) => {
                        let id = got
                            .bytes()
                            .await
                            .map_err(|err| s3_err("reading a multipart record", err))?;
                        let id = String::from_utf8_lossy(&id).into_owned();
                        match self.s3.abort_multipart(&temp, &id).await {
                            Ok(()) => {}
                            Err(err) if is_not_found(&err) => {}
                            Err(err) => {
                                tracing::warn!(key = %temp, error = %err,
                                    "aborting a stale multipart upload failed");
                            }
                        }
                    }
                    Err(err) if is_not_found(&err) => continue,
                    Err(err) => return Err(s3_err("reading a multipart record", err)),
                }
            }
            match self.s3.delete(&meta.location).await {
                Ok(()) => removed += 1,
                Err(err) if is_not_found(&err) => {}
                Err(err) => return Err(s3_err("removing an upload temporary", err)),
            }
        }
        Ok(removed)
    }
}
