//! Paged lists that stay JSON arrays: `?limit=` and `?after=<cursor>` in, the page's array and a
//! `Link: <…>; rel="next"` header out when there is more (RFC 8288, as GitHub's API pages).

use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::Json;
use serde::Deserialize;

use crate::chat::validate;
use crate::error::Result;
use crate::store::page::{Key, Page, Paged};

/// The query of a paged list. Unknown parameters are ignored, as elsewhere.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
}

impl ListQuery {
    /// The page asked for: `limit` 1–1000 (default 500), `after` a cursor from a `Link` header.
    pub fn page(&self) -> Result<Page> {
        let limit = validate::limit(
            self.limit,
            validate::LIST_LIMIT_DEFAULT,
            validate::LIST_LIMIT_MAX,
        )?;
        let after = self.after.as_deref().map(Key::parse).transpose()?;
        Ok(Page { after, limit })
    }
}

/// The page's items as a JSON array, with a `Link` to the next page (same path, same limit,
/// `after` the cursor) when there is one.
pub fn answer<T>(uri: &Uri, page: &Page, paged: Paged<T>) -> (HeaderMap, Json<Vec<T>>) {
    let mut headers = HeaderMap::new();
    if let Some(cursor) = paged.next {
        // The cursor is base64url, safe in a query string as it is.
        let link = format!(
            "<{}?limit={}&after={cursor}>; rel=\"next\"",
            uri.path(),
            page.limit
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
    }
    (headers, Json(paged.items))
}
