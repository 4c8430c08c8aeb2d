//! The wire types of moderation (issue #9): bans and mutes, reports, the audit log, the
//! `removed` frame's reason, and their request bodies.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use super::{Message, User};

/// Why a connection was taken out of a room (the `removed` frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RemovedReason {
    Kicked,
    Banned,
    Left,
    Deleted,
}

/// A ban or a mute of one person in one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Sanction {
    pub room_id: String,
    pub user: User,
    /// The moderator who placed it.
    pub by: User,
    /// When it ends by itself; `null`: when it is lifted.
    pub expires_at: Option<String>,
    pub created_at: String,
}

/// A message reported to the room's moderators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Report {
    pub id: String,
    pub room_id: String,
    /// The message as it is now (a deleted one has an empty body).
    pub message: Message,
    pub reporter: User,
    pub reason: String,
    pub created_at: String,
}

/// What a moderation action did, in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Kick,
    Ban,
    Unban,
    Mute,
    Unmute,
    Role,
    DeleteMessage,
    Report,
    Clear,
    DeleteRoom,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Kick => "kick",
            AuditAction::Ban => "ban",
            AuditAction::Unban => "unban",
            AuditAction::Mute => "mute",
            AuditAction::Unmute => "unmute",
            AuditAction::Role => "role",
            AuditAction::DeleteMessage => "delete_message",
            AuditAction::Report => "report",
            AuditAction::Clear => "clear",
            AuditAction::DeleteRoom => "delete_room",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            AuditAction::Kick,
            AuditAction::Ban,
            AuditAction::Unban,
            AuditAction::Mute,
            AuditAction::Unmute,
            AuditAction::Role,
            AuditAction::DeleteMessage,
            AuditAction::Report,
            AuditAction::Clear,
            AuditAction::DeleteRoom,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub actor: User,
    pub action: AuditAction,
    pub room_id: Option<String>,
    pub target_user_id: Option<String>,
    /// What else the action concerned (`expires_at`, `message_id`, `reason`, `role`, …).
    #[ts(type = "Record<string, unknown>")]
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// `POST /api/rooms/{room_id}/kick`.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct TargetRequest {
    pub user_id: String,
}

/// `POST /api/rooms/{room_id}/bans` and `…/mutes`.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct SanctionRequest {
    pub user_id: String,
    /// Seconds until it ends by itself (1 to 31,536,000); absent or `null`: until lifted.
    #[serde(default)]
    #[ts(optional)]
    pub expires_in_secs: Option<u64>,
}

/// `POST /api/rooms/{room_id}/messages/{message_id}/report`.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ReportRequest {
    /// 1–500 characters after trimming.
    pub reason: String,
}
