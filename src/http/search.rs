//! Search over REST (issue #11): `GET /api/search`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::ApiQuery;
use crate::auth::AuthUser;
use crate::chat::{search, validate};
use crate::error::{Error, Result};
use crate::protocol::{ErrorBody, SearchResults};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/search", get(search_messages))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
    room_id: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/search", tag = "search", security(("bearer" = []), ("cookie" = [])),
    params(("q" = String, Query, description = "The query: words (all must match; the last also as a prefix), \"phrases\", -excluded, from:name, in:room, has:link, has:file, before:/after:/on:YYYY-MM-DD (UTC days; before and after exclude the day named). See docs/protocol.md"),
        ("room_id" = Option<String>, Query, description = "Only this room"),
        ("before" = Option<String>, Query, description = "The `next_before` of the previous page"),
        ("limit" = Option<u32>, Query, description = "Results per page")),
    responses((status = 200, description = "Matching messages of rooms the caller may read, newest first, with the matched words' spans in code points", body = SearchResults),
        (status = 400, description = "invalid_query (the language can't read it, or it is too long), invalid_request (limit, before)", body = ErrorBody),
        (status = 404, description = "room_not_found (room_id names a room the caller may not read)", body = ErrorBody)))]
async fn search_messages(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<SearchResults>> {
    let limit = validate::limit(
        query.limit,
        search::SEARCH_LIMIT_DEFAULT,
        search::SEARCH_LIMIT_MAX,
    )?;
    let q = query
        .q
        .ok_or_else(|| Error::InvalidQuery("q is missing: what to search for".into()))?;
    let results = state
        .chat
        .search(
            &auth.user,
            &q,
            query.room_id.as_deref(),
            query.before.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(results))
}
