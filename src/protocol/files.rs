//! The wire types of files (issue #12): an uploaded file, as `POST /api/files` answers it and as
//! a message's `attachments` carry it.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// An uploaded file. `url` and `thumbnail_url` are paths on this server; `GET` them with the
/// session (only the uploader and people who may read a room where the file is attached may).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct FileInfo {
    pub id: String,
    /// The name the uploader gave it (cleaned: no path, no control characters).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Sniffed from the bytes on the server, never taken from the client.
    pub content_type: String,
    /// Pixels, for images (known before the image loads); `null` otherwise.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// `/api/files/{id}`.
    pub url: String,
    /// `/api/files/{id}/thumbnail` for images that have one; `null` otherwise.
    pub thumbnail_url: Option<String>,
}
