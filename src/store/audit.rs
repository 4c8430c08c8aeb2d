//! The audit log's one write: [`record_audit`], called inside the transaction of the action it
//! records (kick, ban, unban, mute, unmute, a moderator's delete, report, clear, delete_room;
//! a role change from the members' procedures), so the record and the change commit together
//! or not at all. It imports nothing of the other procedures, so any of them may call it.

use serde_json::Value;

use super::dialect::{self, sql, Arg, Conn};
use super::{new_id, now};
use crate::error::Result;
use crate::protocol::AuditAction;

/// An audit entry to record, inside the transaction of the action.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub actor_id: &'a str,
    pub action: AuditAction,
    pub room_id: Option<&'a str>,
    pub target_user_id: Option<&'a str>,
    /// A JSON object: what else the action concerned.
    pub detail: Value,
}

/// Records a moderation action in the audit log. Call it inside the transaction that makes the
/// change, so the record and the change commit together or not at all.
pub async fn record_audit<C: Conn>(conn: &mut C, entry: &NewAudit<'_>) -> Result<()> {
    let sql = sql!(
        "INSERT INTO audit_log (id, at, actor_id, action, room_id, target_user_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    );
    let (id, at, detail) = (new_id(), now(), entry.detail.to_string());
    let args = [
        Arg::Text(&id),
        Arg::Text(&at),
        Arg::Text(entry.actor_id),
        Arg::Text(entry.action.as_str()),
        Arg::OptText(entry.room_id),
        Arg::OptText(entry.target_user_id),
        Arg::Text(&detail),
    ];
    dialect::execute(conn, &sql, &args).await?;
    Ok(())
}
