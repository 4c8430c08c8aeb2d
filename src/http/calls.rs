//! Calls over REST (#13): the ICE servers a browser connects its calls with. Joining, leaving
//! and signalling go over the socket (docs/protocol.md).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::AuthUser;
use crate::chat::calls::ice_servers as servers_for;
use crate::error::Result;
use crate::protocol::{ErrorBody, IceServer};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/calls/ice-servers", get(ice_servers))
}

#[utoipa::path(get, path = "/api/calls/ice-servers", tag = "calls", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The STUN and TURN servers of `PALAVER_ICE_SERVERS`, as the browser's `RTCIceServer`s: STUN URLs in one entry; TURN URLs, when `PALAVER_TURN_SECRET` is set, in one entry with a credential for the caller valid `PALAVER_TURN_TTL_SECS` (username `\"{expiry unix seconds}:{user_id}\"`, credential base64(HMAC-SHA1(secret, username)), coturn's REST API scheme). `[]` when none are configured", body = [IceServer]),
        (status = 401, description = "unauthenticated", body = ErrorBody)))]
async fn ice_servers(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<Vec<IceServer>>> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let config = &state.config;
    Ok(Json(servers_for(
        &config.ice_servers,
        config.turn_secret.as_deref(),
        config.turn_ttl_secs,
        &auth.user.id,
        now,
    )))
}
