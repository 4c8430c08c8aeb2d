//! The wire types of calls (issue #13) beyond the socket frames: the ICE servers a browser's
//! `RTCPeerConnection` is configured with.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One entry of `GET /api/calls/ice-servers`, shaped as the browser's `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp`, `turns:…`.
    pub urls: Vec<String>,
    /// For TURN with a shared secret: `"{expiry unix seconds}:{user_id}"` (coturn's REST API
    /// scheme); absent for STUN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub username: Option<String>,
    /// base64(HMAC-SHA1(secret, username)); absent for STUN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub credential: Option<String>,
}
