//! The wire types of mentions, read markers, notification levels and Web Push (issue #10):
//! the room setting of who may mention everyone, the unread counts, and their request bodies.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Who may mention everyone in a room with `@room` or `@here` (a room setting). From anyone
/// else those words are plain text: they mention nobody.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MentionEveryone {
    #[default]
    Anyone,
    Moderators,
}

impl MentionEveryone {
    pub fn as_str(self) -> &'static str {
        match self {
            MentionEveryone::Anyone => "anyone",
            MentionEveryone::Moderators => "moderators",
        }
    }

    /// Every setting, in the order the OpenAPI document lists them.
    pub const ALL: [MentionEveryone; 2] = [MentionEveryone::Anyone, MentionEveryone::Moderators];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What of a room notifies a person: every message of others, only those that mention them,
/// or nothing. The default is `mentions` in rooms and `all` in DMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotificationLevel {
    All,
    Mentions,
    Nothing,
}

impl NotificationLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationLevel::All => "all",
            NotificationLevel::Mentions => "mentions",
            NotificationLevel::Nothing => "nothing",
        }
    }

    /// Every level, in the order the OpenAPI document lists them.
    pub const ALL: [NotificationLevel; 3] = [
        NotificationLevel::All,
        NotificationLevel::Mentions,
        NotificationLevel::Nothing,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// `PUT /api/rooms/{room_id}/read`: everything up to `seq` is read.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ReadRequest {
    pub seq: u64,
}

/// One room of `GET /api/me/unread`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct UnreadEntry {
    pub room_id: String,
    /// Everything up to this seq is read (0: nothing yet).
    pub last_read_seq: u64,
    /// Others' live messages after `last_read_seq`, counted among the room's last
    /// `UNREAD_WINDOW` (1000) events only: when `last_seq - last_read_seq` is larger, there
    /// may be more (show "999+").
    pub unread: u64,
    /// Those of them that mention the caller (not capped).
    pub mentions: u64,
    /// The room's last seq.
    pub last_seq: u64,
    /// The caller's notification level in the room (the default when they set none).
    pub notifications: NotificationLevel,
}

impl AsRef<str> for UnreadEntry {
    /// The room's id.
    fn as_ref(&self) -> &str {
        &self.room_id
    }
}

/// `PUT /api/rooms/{room_id}/notifications`.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct NotificationsRequest {
    pub level: NotificationLevel,
}

/// `GET /api/push/key`: the server's VAPID public key, base64url (no padding) of the
/// uncompressed P-256 point, as `PushManager.subscribe({applicationServerKey})` takes it.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct PushKey {
    pub public_key: String,
}

/// The keys of a browser's push subscription (`PushSubscription.toJSON().keys`).
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct PushSubscriptionKeys {
    /// base64url of the browser's P-256 public key (65 bytes, uncompressed).
    pub p256dh: String,
    /// base64url of the 16-byte authentication secret.
    pub auth: String,
}

/// `POST /api/push/subscriptions`: a browser's push subscription (`PushSubscription.toJSON()`;
/// other fields, such as `expirationTime`, are ignored).
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct PushSubscriptionRequest {
    pub endpoint: String,
    pub keys: PushSubscriptionKeys,
}

/// `DELETE /api/push/subscriptions`.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct PushUnsubscribeRequest {
    pub endpoint: String,
}

/// What a Web Push message carries (JSON, encrypted for the browser): enough for the service
/// worker to show a notification and open the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct PushPayload {
    pub room_id: String,
    pub room_name: String,
    pub message_id: String,
    pub seq: u64,
    /// The author's display name, else their username.
    pub author: String,
    /// The start of the body (at most 200 characters).
    pub body: String,
    /// Whether the message mentions the recipient.
    pub mention: bool,
}
