//! Files (issue #12): uploads (size limit, per-user quota, allowed types sniffed from the bytes),
//! image thumbnails, who may fetch a file, and freeing the blobs nothing refers to.
//!
//! An upload streams from the client into the blob store ([`crate::store::blobs`]) chunk by
//! chunk: the limit and the quota are checked as the bytes arrive, and an upload refused or cut
//! off halfway leaves nothing behind (its temporary is removed; after a crash, the sweep does).
//! Its type is decided from its first bytes, never from what the client says. Images are decoded
//! (bounded in dimensions, memory and time) off the async threads for their size and thumbnail.
//! The file row is written, then the bytes moved into place, before the upload is answered: a
//! message can only carry a file whose bytes are durable.
//!
//! Who may fetch a file: its uploader, and whoever may read the room of the message that
//! carries it (the gate's `Need::Read`); anyone else gets `file_not_found`, as for a file that
//! does not exist.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::error::{Error, Result};
use crate::protocol::{FileInfo, User};
use crate::store::blobs::{BlobStore, BlobStream};
use crate::store::files::{FileRecord, NewFile};

use super::access::Need;
use super::Chat;

/// Most files one message may carry.
pub const MAX_ATTACHMENTS: usize = 10;

/// Bytes read before the type is decided.
const SNIFF_BYTES: usize = 8 * 1024;

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;

/// Largest image side decoded (a larger image is refused: a decompression bomb, or a poster).
pub const MAX_IMAGE_SIDE: u32 = 12_000;

/// Most pixels an image may have to be decoded (8-bit RGBA: 4 bytes each).
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;

/// Most memory the decoder may allocate for one image.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// Longest one image's decoding and thumbnail may take.
const DECODE_TIMEOUT: Duration = Duration::from_secs(20);

/// Longest a file name is kept, in characters.
const MAX_NAME_CHARS: usize = 200;

/// The settings of uploads.
#[derive(Debug, Clone)]
pub struct FilePolicy {
    /// Largest file, in bytes (`PALAVER_MAX_UPLOAD_BYTES`).
    pub max_upload_bytes: u64,
    /// Bytes one user's files may take together (`PALAVER_UPLOAD_QUOTA_BYTES`).
    pub quota_bytes: u64,
    /// Types allowed (`type/subtype` or `type/*`); empty: every type but executables, which
    /// are never allowed.
    pub allowed_types: Vec<String>,
    /// Uploads never attached are deleted after this long.
    pub unattached_ttl: Duration,
}

impl FilePolicy {
    pub fn from_config(config: &crate::config::Config) -> Self {
        FilePolicy {
            max_upload_bytes: config.max_upload_bytes,
            quota_bytes: config.upload_quota_bytes,
            allowed_types: config
                .upload_types
                .iter()
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty() && t != "*")
                .collect(),
            unattached_ttl: Duration::from_secs(config.upload_unattached_hours.max(1) * 3600),
        }
    }

    /// Whether this (sniffed) type may be uploaded.
    pub fn allows(&self, content_type: &str) -> bool {
        if is_executable(content_type) {
            return false;
        }
        let essence = content_type.split(';').next().unwrap_or("").trim();
        self.allowed_types.is_empty()
            || self.allowed_types.iter().any(|allowed| {
                allowed == essence
                    || allowed
                        .strip_suffix("/*")
                        .is_some_and(|top| essence.split('/').next() == Some(top))
            })
    }
}

/// Where the files of this node live, and their settings: set by [`Chat::with_files`].
pub struct Files {
    blobs: Arc<dyn BlobStore>,
    policy: FilePolicy,
}

/// The type of a file, from its first bytes. Whatever `infer` files as an application
/// (executables, libraries, bytecode) is answered as `application/x-executable` unless it is
/// one of the named executable types already.
pub fn sniff(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        if kind.matcher_type() == infer::MatcherType::App && !is_executable(kind.mime_type()) {
            return "application/x-executable".into();
        }
        return kind.mime_type().to_string();
    }
    if head.starts_with(b"#!") {
        return "text/x-shellscript".into();
    }
    // Text when what was read is UTF-8 (a character cut at the end of the sample counts).
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(err) => err.error_len().is_none() && head.len() - err.valid_up_to() < 4,
    };
    if text && !head.contains(&0) {
        "text/plain; charset=utf-8".into()
    } else {
        "application/octet-stream".into()
    }
}

/// Programs: never accepted, whatever the settings.
pub fn is_executable(content_type: &str) -> bool {
    matches!(
        content_type,
        "application/vnd.microsoft.portable-executable"
            | "application/x-executable"
            | "application/x-elf"
            | "application/x-mach-binary"
            | "application/x-msdownload"
            | "application/vnd.android.dex"
            | "application/vnd.android.dey"
            | "application/java"
            | "application/x-java-applet"
            | "application/wasm"
            | "application/x-shockwave-flash"
            | "application/x-coff"
            | "application/x-llvm"
            | "application/x-x509-ca-cert"
            | "text/x-shellscript"
    )
}

/// Types a browser may show inline, safely: raster images, audio and video. Never SVG or
/// HTML (they run script); everything else is served as a download.
pub fn inline_safe(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/avif"
            | "image/bmp"
            | "video/mp4"
            | "video/webm"
            | "video/ogg"
            | "video/quicktime"
            | "audio/mpeg"
            | "audio/ogg"
            | "audio/x-wav"
            | "audio/wav"
            | "audio/x-flac"
            | "audio/aac"
            | "audio/m4a"
            | "audio/mp4"
            | "audio/webm"
    )
}

/// Images this server decodes for size and thumbnail.
fn decodable(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// The name kept for a file: its last path part, without control characters, bounded.
pub fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        "file".into()
    } else {
        cleaned.to_string()
    }
}

/// What decoding an image found.
#[derive(Debug)]
pub enum Decoded {
    /// Its size, and a thumbnail (bytes of [`thumbnail_type`]).
    Image {
        width: u32,
        height: u32,
        thumbnail: Vec<u8>,
    },
    /// Not decodable (a damaged file): kept as a plain file.
    Unreadable,
}

/// Decodes an image within the limits: its size from the header first (a giant is refused
/// before anything is allocated), then the pixels under `image::Limits`, then a thumbnail.
pub fn decode_image(bytes: &[u8], content_type: &str) -> Result<Decoded> {
    use image::ImageReader;
    use std::io::Cursor;
    let reader = match ImageReader::new(Cursor::new(bytes)).with_guessed_format() {
        Ok(reader) => reader,
        Err(_) => return Ok(Decoded::Unreadable),
    };
    let (width, height) = match reader.into_dimensions() {
        Ok(dims) => dims,
        Err(image::ImageError::Limits(_)) => return Err(too_large_image()),
        Err(_) => return Ok(Decoded::Unreadable),
    };
    if width > MAX_IMAGE_SIDE
        || height > MAX_IMAGE_SIDE
        || width as u64 * height as u64 > MAX_IMAGE_PIXELS
    {
        return Err(too_large_image());
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = match ImageReader::new(Cursor::new(bytes)).with_guessed_format() {
        Ok(reader) => reader,
        Err(_) => return Ok(Decoded::Unreadable),
    };
    reader.limits(limits);
    let image = match reader.decode() {
        Ok(image) => image,
        Err(image::ImageError::Limits(_)) => return Err(too_large_image()),
        Err(_) => return Ok(Decoded::Unreadable),
    };
    let thumb = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
    let mut out = Cursor::new(Vec::new());
    let written = if thumbnail_type(content_type) == "image/jpeg" {
        thumb.to_rgb8().write_to(&mut out, image::ImageFormat::Jpeg)
    } else {
        thumb.write_to(&mut out, image::ImageFormat::Png)
    };
    if written.is_err() {
        return Ok(Decoded::Unreadable);
    }
    Ok(Decoded::Image {
        width,
        height,
        thumbnail: out.into_inner(),
    })
}

fn too_large_image() -> Error {
    Error::FileTooLarge {
        max: MAX_IMAGE_PIXELS,
    }
}

/// What [`Chat::open_file`] hands the HTTP layer: the file and its bytes' name.
pub struct OpenFile {
    pub record: FileRecord,
    /// The blob to serve: the file's, or its thumbnail's.
    pub sha256: String,
    /// The content type of what is served.
    pub content_type: String,
}

impl Chat {
    /// Sets where files live and their settings (the app does; without it uploads answer
    /// `unavailable`).
    pub fn with_files(mut self, blobs: Arc<dyn BlobStore>, policy: FilePolicy) -> Self {
        self.files = Some(Files { blobs, policy });
        self
    }

    fn files(&self) -> Result<&Files> {
        self.files
            .as_ref()
            .ok_or_else(|| Error::Unavailable(anyhow::anyhow!("no file store on this node")))
    }

    /// The upload settings (the HTTP layer sizes its limits from them).
    pub fn file_policy(&self) -> Option<&FilePolicy> {
        self.files.as_ref().map(|f| &f.policy)
    }

    /// Stores one upload streamed in `body`, checking its type, size and the user's quota as it
    /// arrives; answers the new (unattached) file.
    pub async fn upload<S>(&self, user: &User, name: &str, mut body: S) -> Result<FileInfo>
    where
        S: Stream<Item = Result<Bytes>> + Unpin + Send,
    {
        let files = self.files()?;
        let policy = &files.policy;
        let used = self.store.upload_bytes(&user.id).await?;
        if used >= policy.quota_bytes {
            return Err(Error::QuotaExceeded {
                max: policy.quota_bytes,
            });
        }
        let room_left = policy.quota_bytes - used;
        // The type, from the first bytes, before anything is written.
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
        let mut rest: Option<Bytes> = None;
        while head.len() < SNIFF_BYTES {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                    head.extend_from_slice(&chunk[..take]);
                    if take < chunk.len() {
                        rest = Some(chunk.slice(take..));
                        break;
                    }
                }
                None => break,
            }
        }
        let content_type = sniff(&head);
        if !policy.allows(&content_type) {
            return Err(Error::FileTypeNotAllowed(content_type));
        }
        let keep_image = decodable(&content_type);
        // Decoding needs the whole image in memory (at most the upload limit); other files
        // only pass through.
        let mut image: Vec<u8> = Vec::new();
        let mut writer = files.blobs.create().await?;
        let mut size: u64 = 0;
        let mut first = vec![Bytes::from(head)];
        first.extend(rest);
        let mut first = first.into_iter();
        loop {
            let chunk = match first.next() {
                Some(chunk) => Ok(chunk),
                None => match body.next().await {
                    Some(chunk) => chunk,
                    None => break,
                },
            };
            let written = match chunk {
                Ok(chunk) => {
                    if keep_image {
                        image.extend_from_slice(&chunk);
                    }
                    write_checked(&mut *writer, &chunk, &mut size, policy, room_left).await
                }
                Err(err) => Err(err),
            };
            if let Err(err) = written {
                writer.abort().await;
                return Err(err);
            }
        }
        let staged = writer.finish().await?;
        let mut staged_thumb = None;
        let (mut width, mut height) = (0, 0);
        if keep_image {
            let ty = content_type.clone();
            let decoded = tokio::time::timeout(
                DECODE_TIMEOUT,
                tokio::task::spawn_blocking(move || decode_image(&image, &ty)),
            )
            .await;
            let decoded = match decoded {
                Ok(Ok(Ok(decoded))) => decoded,
                Ok(Ok(Err(err))) => {
                    files.blobs.discard(&staged).await;
                    return Err(err);
                }
                // Too slow, or the decoder panicked: refused like a bomb.
                Ok(Err(_)) | Err(_) => {
                    files.blobs.discard(&staged).await;
                    return Err(too_large_image());
                }
            };
            if let Decoded::Image {
                width: w,
                height: h,
                thumbnail,
            } = decoded
            {
                let made = async {
                    let mut thumb = files.blobs.create().await?;
                    if let Err(err) = thumb.write(&thumbnail).await {
                        thumb.abort().await;
                        return Err(err);
                    }
                    thumb.finish().await
                }
                .await;
                match made {
                    Ok(thumb) => staged_thumb = Some(thumb),
                    Err(err) => {
                        files.blobs.discard(&staged).await;
                        return Err(err);
                    }
                }
                (width, height) = (w, h);
            }
        }
        let new = NewFile {
            owner_id: user.id.clone(),
            name: clean_name(name),
            size,
            content_type,
            sha256: staged.sha256.clone(),
            width,
            height,
            thumb_sha256: staged_thumb.as_ref().map(|t| t.sha256.clone()),
        };
        let discard_all = || async {
            files.blobs.discard(&staged).await;
            if let Some(thumb) = &staged_thumb {
                files.blobs.discard(thumb).await;
            }
        };
        // The row first, then the bytes into place (see `store::blobs`).
        let record = match self.store.insert_file(&new).await {
            Ok(record) => record,
            Err(err) => {
                discard_all().await;
                return Err(err);
            }
        };
        let mut promoted = files.blobs.promote(&staged).await;
        if promoted.is_ok() {
            if let Some(thumb) = &staged_thumb {
                promoted = files.blobs.promote(thumb).await;
            }
        }
        if let Err(err) = promoted {
            discard_all().await;
            let _ = self.store.discard_file(&record.id).await;
            self.empty_trash().await;
            return Err(err);
        }
        Ok(record.info())
    }

    /// The file (or its thumbnail) to serve to `user`: `file_not_found` unless they uploaded it
    /// or may read a room where it is attached.
    pub async fn open_file(&self, user: &User, id: &str, thumbnail: bool) -> Result<OpenFile> {
        self.files()?;
        if id.len() > 64 {
            return Err(Error::FileNotFound);
        }
        let record = self.store.file(id).await?;
        if record.owner_id != user.id {
            let Some(room_id) = record.room_id.as_deref() else {
                return Err(Error::FileNotFound);
            };
            self.gate
                .require(user, room_id, Need::Read, "you can't read this room")
                .await
                .map_err(|_| Error::FileNotFound)?;
        }
        let (sha256, content_type) = if thumbnail {
            let sha = record.thumb_sha256.clone().ok_or(Error::FileNotFound)?;
            (sha, thumbnail_type(&record.content_type).to_string())
        } else {
            (record.sha256.clone(), record.content_type.clone())
        };
        Ok(OpenFile {
            record,
            sha256,
            content_type,
        })
    }

    /// The bytes `start..end` of an opened file.
    pub async fn read_file(&self, open: &OpenFile, start: u64, end: u64) -> Result<BlobStream> {
        self.files()?.blobs.read(&open.sha256, start, end).await
    }

    /// The size of what an opened file serves (the thumbnail's is read from its bytes).
    pub async fn served_size(&self, open: &OpenFile, thumbnail: bool) -> Result<u64> {
        if !thumbnail {
            return Ok(open.record.size);
        }
        self.files()?.blobs.size(&open.sha256).await
    }

    /// Removes the blobs in the trash that nothing refers to (after a deletion commits, and in
    /// the sweep). Failures are logged and left for the next sweep.
    pub async fn empty_trash(&self) {
        let Some(files) = &self.files else { return };
        loop {
            let trash = match self.store.trash(100).await {
                Ok(trash) => trash,
                Err(err) => {
                    err.log_if_internal();
                    return;
                }
            };
            if trash.is_empty() {
                return;
            }
            let mut progressed = false;
            for sha in &trash {
                match files
                    .blobs
                    .remove_unreferenced(sha, self.store.as_ref())
                    .await
                {
                    Ok(_) => {
                        if self.store.untrash(sha).await.is_ok() {
                            progressed = true;
                        }
                    }
                    Err(err) => err.log_if_internal(),
                }
            }
            if !progressed || trash.len() < 100 {
                return;
            }
        }
    }

    /// The files' part of the sweep: uploads never attached, temporaries of uploads that never
    /// finished, and the trash. Answers how many files were deleted.
    pub async fn sweep_files(&self) -> Result<u64> {
        let Some(files) = &self.files else {
            return Ok(0);
        };
        let ttl = chrono::Duration::from_std(files.policy.unattached_ttl).unwrap_or_default();
        let before = crate::store::timestamp(chrono::Utc::now() - ttl);
        let deleted = self.store.sweep_unattached(&before).await?;
        // An upload in flight is younger than its deadline; an hour is far past any.
        files
            .blobs
            .sweep_temporaries(Duration::from_secs(3600))
            .await?;
        self.empty_trash().await;
        Ok(deleted)
    }

    /// Whether a blob's bytes are stored (for tests and checks).
    pub async fn blob_exists(&self, sha256: &str) -> Result<bool> {
        self.files()?.blobs.exists(sha256).await
    }

    /// The attachments a send names, checked: at most [`MAX_ATTACHMENTS`], no repeats.
    pub(super) fn check_attachments(&self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.files()?;
        if ids.len() > MAX_ATTACHMENTS {
            return Err(Error::InvalidAttachments(
                "a message carries at most 10 files",
            ));
        }
        for (i, id) in ids.iter().enumerate() {
            if id.is_empty() || id.len() > 64 {
                return Err(Error::FileNotFound);
            }
            if ids[..i].contains(id) {
                return Err(Error::InvalidAttachments("a file is named twice"));
            }
        }
        Ok(())
    }
}

/// A thumbnail's type follows from its image's: JPEG for a JPEG, PNG (which keeps
/// transparency) for the rest.
pub fn thumbnail_type(content_type: &str) -> &'static str {
    if content_type == "image/jpeg" {
        "image/jpeg"
    } else {
        "image/png"
    }
}

/// Writes one chunk of an upload, checking the size limit and the quota.
async fn write_checked(
    writer: &mut dyn crate::store::blobs::BlobWriter,
    chunk: &[u8],
    size: &mut u64,
    policy: &FilePolicy,
    room_left: u64,
) -> Result<()> {
    *size += chunk.len() as u64;
    if *size > policy.max_upload_bytes {
        return Err(Error::FileTooLarge {
            max: policy.max_upload_bytes,
        });
    }
    if *size > room_left {
        return Err(Error::QuotaExceeded {
            max: policy.quota_bytes,
        });
    }
    writer.write(chunk).await
}
