//! The wire types of search (issue #11).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::Message;

/// One message that matched, with where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct SearchHit {
    pub message: Message,
    /// The matched words and phrases in `message.body`: `[start, end]` offsets in Unicode code
    /// points, end exclusive, sorted, not overlapping.
    pub highlights: Vec<[u32; 2]>,
}

/// A page of search results, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct SearchResults {
    pub results: Vec<SearchHit>,
    /// Pass as `before` for the next (older) page; `null`: this was the last.
    pub next_before: Option<String>,
}
