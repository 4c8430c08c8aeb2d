//! The REST bodies of accounts and people (issue #9): profiles, the directory, passwords,
//! sessions, the export, deletion, claiming a guest name, and the public server settings.
//! Declarations only, like the rest of [`super`].

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{Message, Role, RoomKind, User};

/// A field that may be absent (unchanged), `null` (cleared) or a value.
fn present<'de, D>(deserializer: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(deserializer).map(Some)
}

/// `PATCH /api/me`: each field absent leaves it as it is; `null` or `""` clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct UpdateProfileRequest {
    /// 1–64 characters after trimming (NFC; no invisible or text-direction characters).
    #[serde(default, deserialize_with = "present")]
    #[ts(optional, type = "string | null")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub display_name: Option<Option<String>>,
    /// At most 500 characters.
    #[serde(default, deserialize_with = "present")]
    #[ts(optional, type = "string | null")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub bio: Option<Option<String>>,
    /// An IANA time zone name (`Europe/Paris`), at most 64 characters.
    #[serde(default, deserialize_with = "present")]
    #[ts(optional, type = "string | null")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub timezone: Option<Option<String>>,
}

/// `GET /api/users/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct UserProfile {
    pub user: User,
    pub bio: String,
    pub timezone: Option<String>,
    pub created_at: String,
}

/// `POST /api/me/password`.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /api/me/claim`: the password the guest's account will have.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ClaimRequest {
    pub password: String,
}

/// `DELETE /api/me`: the password (guests have none and need not send it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct DeleteAccountRequest {
    #[serde(default)]
    #[ts(optional)]
    pub password: Option<String>,
}

/// One of the caller's live sessions (`GET /api/me/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct SessionView {
    /// Public id (not the token): `DELETE /api/me/sessions/{id}` revokes it.
    pub id: String,
    pub created_at: String,
    /// Noted at most once a minute; `null` before the first use after sign-in was noted.
    pub last_seen_at: Option<String>,
    /// When it stops working; `null`: never.
    pub expires_at: Option<String>,
    /// The session this request was made with.
    pub current: bool,
}

/// One room the person is a member of, in the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ExportMembership {
    pub room_id: String,
    pub room_name: String,
    pub kind: RoomKind,
    pub role: Role,
}

/// A reaction the person gave, in the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ExportReaction {
    pub room_id: String,
    pub message_id: String,
    pub emoji: String,
}

/// The person's read marker and notification level in a room, in the export (`notifications`
/// null: the room kind's default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ExportReadState {
    pub room_id: String,
    pub last_read_seq: u64,
    pub notifications: Option<String>,
}

/// A file the person uploaded, in the export (`message_id` null: attached to nothing yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ExportFile {
    pub id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub room_id: Option<String>,
    pub message_id: Option<String>,
    pub created_at: String,
}

/// A browser that gets the person's Web Push notifications, in the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ExportPushSubscription {
    pub endpoint: String,
    pub created_at: String,
}

/// What the export holds besides the profile, rooms, sessions and messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportExtras {
    pub reactions: Vec<ExportReaction>,
    pub read_state: Vec<ExportReadState>,
    pub files: Vec<ExportFile>,
    pub push_subscriptions: Vec<ExportPushSubscription>,
}

/// `GET /api/me/export`: everything the server holds about the person (no password hash, no
/// token hashes). Streamed: `messages` last, every live message they wrote, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct AccountExport {
    pub exported_at: String,
    pub user: User,
    pub bio: String,
    pub timezone: Option<String>,
    pub created_at: String,
    pub memberships: Vec<ExportMembership>,
    pub sessions: Vec<SessionView>,
    /// The reactions the person gave to live messages.
    pub reactions: Vec<ExportReaction>,
    /// Read markers and notification levels, per room.
    pub read_state: Vec<ExportReadState>,
    /// The files the person uploaded (the metadata; each `id`'s bytes are at `/api/files/{id}`).
    pub files: Vec<ExportFile>,
    pub push_subscriptions: Vec<ExportPushSubscription>,
    pub messages: Vec<Message>,
}

/// `GET /api/config`: what the sign-in page needs before anyone signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ServerConfig {
    pub allow_guests: bool,
    /// How long a guest's name stays theirs after their last session ended.
    pub guest_name_grace_secs: u64,
}
