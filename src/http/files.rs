//! Files over REST (issue #12): `POST /api/files` (a multipart upload, streamed) and
//! `GET /api/files/{id}` (and `/thumbnail`) with Range, ETag and caching headers.
//!
//! The 64 KiB body limit of the other endpoints does not apply to the upload: its own limit
//! (`PALAVER_MAX_UPLOAD_BYTES`, plus room for the multipart framing) is enforced by the accept
//! loop on a declared length ([`crate::serve`]) and by the rules as the bytes stream in, and its
//! body has a deadline scaled to its size.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;

use crate::auth::AuthUser;
use crate::chat::files::inline_safe;
use crate::error::{Error, Result};
use crate::protocol::{ErrorBody, FileInfo};
use crate::state::AppState;

/// Bytes of parts other than `file` skipped before the upload is refused.
const MULTIPART_SLACK: u64 = crate::serve::UPLOAD_FRAMING;

/// How long browsers may keep a file: a file's bytes never change (its ETag is their SHA-256).
const CACHE_CONTROL: &str = "private, immutable, max-age=31536000";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/files",
            // The rules bound the upload as it streams; axum's whole-body limit would not.
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/files/{file_id}", get(download))
        .route("/api/files/{file_id}/thumbnail", get(thumbnail))
}

#[utoipa::path(post, path = "/api/files", tag = "files", security(("bearer" = []), ("cookie" = [])),
    request_body(content_type = "multipart/form-data", description = "One part named `file`: the file's bytes, its filename the name kept. The type is sniffed from the bytes, never taken from the client."),
    responses((status = 201, description = "Stored (on disk, fsynced, or in the database) and not yet attached: send it in a message's `attachments` (uploads never attached are deleted after PALAVER_UPLOAD_UNATTACHED_HOURS)", body = FileInfo),
        (status = 400, description = "invalid_request (not multipart, no `file` part)", body = ErrorBody),
        (status = 408, description = "request_timeout: the upload did not arrive within its deadline", body = ErrorBody),
        (status = 413, description = "file_too_large (over PALAVER_MAX_UPLOAD_BYTES, or an image over 12,000 px a side or 40 Mpx), quota_exceeded (PALAVER_UPLOAD_QUOTA_BYTES)", body = ErrorBody),
        (status = 415, description = "file_type_not_allowed (executables always; other types per PALAVER_UPLOAD_TYPES)", body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    auth: AuthUser,
    multipart: std::result::Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<FileInfo>)> {
    let mut multipart = multipart.map_err(|err| Error::InvalidRequest(err.body_text()))?;
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|err| multipart_error(&err))?
            .ok_or_else(|| Error::InvalidRequest("send the file in a part named `file`".into()))?;
        if field.name() != Some("file") {
            // Another part: skipped, bounded like the file (its bytes are not kept).
            let mut skipped: u64 = 0;
            let mut field = field;
            while let Some(chunk) = field.chunk().await.map_err(|err| multipart_error(&err))? {
                skipped += chunk.len() as u64;
                if skipped > MULTIPART_SLACK {
                    return Err(Error::InvalidRequest(
                        "send only the file, in a part named `file`".into(),
                    ));
                }
            }
            continue;
        }
        let name = field.file_name().unwrap_or("file").to_string();
        let stream = field.map(|chunk| chunk.map_err(|err| multipart_error(&err)));
        let info = state
            .chat
            .upload(&auth.user, &name, Box::pin(stream))
            .await?;
        return Ok((StatusCode::CREATED, Json(info)));
    }
}

/// A multipart failure: a body cut off by its deadline is the accept loop's 408; anything else
/// is a malformed request.
fn multipart_error(err: &axum::extract::multipart::MultipartError) -> Error {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Error::PayloadTooLarge { max: 0 };
    }
    Error::InvalidRequest(format!(
        "the upload is not valid multipart: {}",
        err.body_text()
    ))
}

#[utoipa::path(get, path = "/api/files/{file_id}", tag = "files", security(("bearer" = []), ("cookie" = [])),
    params(("file_id" = String, Path, description = "The file's id"),
        ("Range" = Option<String>, Header, description = "One range, `bytes=a-b`, `bytes=a-` or `bytes=-n`"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag you have: 304 when it is this file")),
    responses((status = 200, description = "The bytes; `ETag` (their SHA-256), `Cache-Control: private, immutable`, `Content-Disposition` (inline only for images, audio and video safe to show; never SVG or HTML), `X-Content-Type-Options: nosniff`"),
        (status = 206, description = "The range asked for, with `Content-Range`"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "file_not_found: no such file, or not yours and in no room you may read", body = ErrorBody),
        (status = 416, description = "range_not_satisfiable", body = ErrorBody)))]
async fn download(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(file_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    serve(&state, &auth, &file_id, false, &headers).await
}

#[utoipa::path(get, path = "/api/files/{file_id}/thumbnail", tag = "files", security(("bearer" = []), ("cookie" = [])),
    params(("file_id" = String, Path, description = "The file's id")),
    responses((status = 200, description = "The image's thumbnail (at most 320 px a side; JPEG for a JPEG, PNG otherwise), with the same headers as the file"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "file_not_found (also: the file has no thumbnail)", body = ErrorBody)))]
async fn thumbnail(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(file_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    serve(&state, &auth, &file_id, true, &headers).await
}

async fn serve(
    state: &AppState,
    auth: &AuthUser,
    file_id: &str,
    thumbnail: bool,
    headers: &HeaderMap,
) -> Result<Response> {
    let open = state.chat.open_file(&auth.user, file_id, thumbnail).await?;
    let etag = format!("\"{}\"", open.sha256);
    let mut common = HeaderMap::new();
    common.insert(header::ETAG, value(&etag));
    common.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    common.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // Nothing served here may run script, even opened directly.
    common.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if not_modified(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    let size = state.chat.served_size(&open, thumbnail).await?;
    let range = match headers.get(header::RANGE).map(|v| v.to_str()) {
        None => None,
        Some(Ok(text)) => match parse_range(text, size) {
            Ok(range) => range,
            Err(Unsatisfiable) => {
                let mut response = Error::RangeNotSatisfiable.into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_RANGE, value(&format!("bytes */{size}")));
                return Ok(response);
            }
        },
        Some(Err(_)) => None,
    };
    // A Range with If-Range that doesn't match answers the whole file.
    let range = range.filter(|_| {
        headers
            .get(header::IF_RANGE)
            .is_none_or(|v| v.to_str().ok() == Some(etag.as_str()))
    });
    let (start, end) = range.unwrap_or((0, size));
    let stream = state.chat.read_file(&open, start, end).await?;
    let mut response = Response::new(Body::from_stream(stream));
    *response.headers_mut() = common;
    let headers = response.headers_mut();
    let content_type = if thumbnail || inline_safe(&open.content_type) {
        open.content_type.clone()
    } else if open.content_type.starts_with("text/") {
        // Text is downloaded as text; never as HTML, whatever it holds.
        "text/plain; charset=utf-8".to_string()
    } else {
        open.content_type.clone()
    };
    headers.insert(header::CONTENT_TYPE, value(&content_type));
    let disposition = if thumbnail || inline_safe(&open.content_type) {
        "inline"
    } else {
        "attachment"
    };
    headers.insert(
        header::CONTENT_DISPOSITION,
        value(&format!(
            "{disposition}; filename=\"{}\"; filename*=UTF-8''{}",
            ascii_name(&open.record.name),
            percent_encode(&open.record.name)
        )),
    );
    headers.insert(header::CONTENT_LENGTH, value(&(end - start).to_string()));
    if range.is_some() {
        headers.insert(
            header::CONTENT_RANGE,
            value(&format!("bytes {start}-{}/{size}", end.saturating_sub(1))),
        );
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether `If-None-Match` names this ETag (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

/// A `Range` header that can't be satisfied (416).
#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// One byte range of a file of `size` bytes, as `start..end`: `Ok(None)` for a header this
/// server ignores (another unit, or several ranges: the whole file is served).
pub fn parse_range(
    text: &str,
    size: u64,
) -> std::result::Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (first, last) = spec.trim().split_once('-').ok_or(Unsatisfiable)?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let suffix: u64 = last.parse().map_err(|_| Unsatisfiable)?;
        if suffix == 0 {
            return Err(Unsatisfiable);
        }
        (size.saturating_sub(suffix), size)
    } else {
        let start: u64 = first.parse().map_err(|_| Unsatisfiable)?;
        let end = if last.is_empty() {
            size
        } else {
            let last: u64 = last.parse().map_err(|_| Unsatisfiable)?;
            if last < start {
                return Err(Unsatisfiable);
            }
            last.saturating_add(1).min(size)
        };
        (start, end)
    };
    if range.0 >= size {
        return Err(Unsatisfiable);
    }
    Ok(Some(range))
}

/// The name for the plain `filename=`: ASCII, without quotes or backslashes.
fn ascii_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// RFC 5987 encoding for `filename*=`.
fn percent_encode(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{parse_range, Unsatisfiable};

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 10))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 100))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 100))));
        assert_eq!(parse_range("bytes=-1000", 100), Ok(Some((0, 100))));
        assert_eq!(parse_range("bytes=95-1000", 100), Ok(Some((95, 100))));
        assert_eq!(parse_range("bytes=100-", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=5-1", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=x-1", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=-0", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
    }
}
