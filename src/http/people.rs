//! `/api/users`: the directory and profiles; `/api/config`: the public server settings.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::ApiQuery;
use crate::auth::AuthUser;
use crate::error::Result;
use crate::protocol::{ServerConfig, User, UserProfile};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(directory))
        .route("/api/users/{user_id}", get(profile))
        .route("/api/config", get(config))
}

#[derive(Deserialize)]
struct DirectoryQuery {
    #[serde(default)]
    q: String,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/users", tag = "people", security(("bearer" = []), ("cookie" = [])),
    params(("q" = Option<String>, Query, max_length = 64, description = "A prefix of the username or display name, any case; empty: everyone"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 50, description = "1–50, default 20")),
    responses((status = 200, description = "Live accounts (guests included, deleted accounts never), by username", body = [User]),
        (status = 400, description = "invalid_request", body = crate::protocol::ErrorBody),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody)))]
async fn directory(
    State(state): State<AppState>,
    _auth: AuthUser,
    ApiQuery(query): ApiQuery<DirectoryQuery>,
) -> Result<Json<Vec<User>>> {
    Ok(Json(state.chat.search_users(&query.q, query.limit).await?))
}

#[utoipa::path(get, path = "/api/users/{user_id}", tag = "people", security(("bearer" = []), ("cookie" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The person's profile", body = UserProfile),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody),
        (status = 404, description = "user_not_found", body = crate::protocol::ErrorBody)))]
async fn profile(
    State(state): State<AppState>,
    _auth: AuthUser,
    Path(user_id): Path<String>,
) -> Result<Json<UserProfile>> {
    Ok(Json(state.chat.profile(&user_id).await?))
}

#[utoipa::path(get, path = "/api/config", tag = "people",
    responses((status = 200, description = "Settings the sign-in page shows (no authentication)", body = ServerConfig)))]
async fn config(State(state): State<AppState>) -> Json<ServerConfig> {
    Json(ServerConfig {
        allow_guests: state.chat.allow_guests(),
        guest_name_grace_secs: state.chat.guest_name_grace().as_secs(),
    })
}
