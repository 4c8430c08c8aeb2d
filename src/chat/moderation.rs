//! Moderation: kick, ban, unban, mute, unmute, reports, and the audit log.
//!
//! Who may moderate is the gate's ([`Need::Moderate`]: the owner, room admins, moderators, site
//! admins). Who may be moderated is decided here, the same for every action
//! (`Chat::moderatable`): nobody acts on themselves, on the room's owner or on a site admin,
//! and only the owner (or a site admin) acts on a moderator. Every action is one room event and
//! one audit entry, committed together; a kick or ban ends the person's subscriptions on every
//! node (the event's effects carry it to every hub, see `protocol::Effects`).

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::error::{Error, Result};
use crate::protocol::{AuditEntry, Report, Sanction, ServerFrame, User};
use crate::store::moderation::SanctionKind;

use super::access::Need;
use super::{validate, Chat};

/// Longest a ban or mute may be set to last, in seconds (a year); longer is "until lifted".
pub const MAX_SANCTION_SECS: u64 = 365 * 24 * 60 * 60;

/// Most entries of one page of reports or of the audit log.
pub const PAGE_MAX: u32 = 200;
/// The page size when none is asked for.
pub const PAGE_DEFAULT: u32 = 50;

const MODERATORS_ONLY: &str = "only the room's moderators can do that";

impl Chat {
    /// The person `target_id` if `actor` may moderate them in the room (see the module doc).
    async fn moderatable(&self, actor: &User, room_id: &str, target_id: &str) -> Result<User> {
        let admitted = self
            .gate
            .require(actor, room_id, Need::Moderate, MODERATORS_ONLY)
            .await?;
        if target_id == actor.id {
            return Err(Error::CannotModerateSelf);
        }
        let target = self
            .store
            .moderation_target(target_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let room = match admitted.room {
            Some(room) => room,
            None => self.store.get_room(room_id).await?,
        };
        if target.admin {
            return Err(Error::CannotModerateUser("site admins can't be moderated"));
        }
        if room.owner_id.as_deref() == Some(target.id.as_str()) {
            return Err(Error::CannotModerateUser(
                "the room's owner can't be moderated",
            ));
        }
        let actor_owns = room.owner_id.as_deref() == Some(actor.id.as_str());
        let target_moderates = self
            .store
            .role(room_id, &target.id)
            .await?
            .is_some_and(|role| role.moderates());
        if target_moderates && !actor_owns && !actor.admin {
            return Err(Error::CannotModerateUser(
                "only the room's owner can act on a moderator",
            ));
        }
        Ok(target)
    }

    /// Removes a member; in a public room they may join again.
    pub async fn kick(&self, actor: &User, room_id: &str, user_id: &str) -> Result<()> {
        let target = self.moderatable(actor, room_id, user_id).await?;
        self.limits.room_change(&actor.id)?;
        let event = self
            .timed("kick", self.store.kick(room_id, &target, actor))
            .await?;
        self.publish(std::slice::from_ref(&event));
        Ok(())
    }

    /// Bans (which also ends the membership) or mutes someone, until `expires_in_secs` have
    /// passed or until lifted.
    pub async fn sanction(
        &self,
        actor: &User,
        room_id: &str,
        kind: SanctionKind,
        user_id: &str,
        expires_in_secs: Option<u64>,
    ) -> Result<Sanction> {
        let expires_at = match expires_in_secs {
            None => None,
            Some(secs) if (1..=MAX_SANCTION_SECS).contains(&secs) => {
                let at = chrono::Utc::now() + chrono::Duration::seconds(secs as i64);
                Some(crate::store::timestamp(at))
            }
            Some(_) => {
                return Err(Error::InvalidRequest(format!(
                    "expires_in_secs is 1 to {MAX_SANCTION_SECS}, or absent for until lifted"
                )))
            }
        };
        let target = self.moderatable(actor, room_id, user_id).await?;
        self.limits.room_change(&actor.id)?;
        let write = self
            .store
            .sanction(room_id, kind, &target, actor, expires_at.as_deref());
        let (sanction, event) = self.timed("sanction", write).await?;
        self.publish(std::slice::from_ref(&event));
        Ok(sanction)
    }

    /// Lifts a live ban or mute.
    pub async fn lift(
        &self,
        actor: &User,
        room_id: &str,
        kind: SanctionKind,
        user_id: &str,
    ) -> Result<()> {
        self.gate
            .require(actor, room_id, Need::Moderate, MODERATORS_ONLY)
            .await?;
        let target = self
            .store
            .moderation_target(user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        self.limits.room_change(&actor.id)?;
        let event = self
            .timed("lift", self.store.lift(room_id, kind, &target, actor))
            .await?;
        self.publish(std::slice::from_ref(&event));
        Ok(())
    }

    /// The room's live bans or mutes (moderators only).
    pub async fn sanctions(
        &self,
        actor: &User,
        room_id: &str,
        kind: SanctionKind,
    ) -> Result<Vec<Sanction>> {
        self.gate
            .require(actor, room_id, Need::Moderate, MODERATORS_ONLY)
            .await?;
        self.store.sanctions(room_id, kind).await
    }

    /// Reports a message to the room's moderators: stored (and audited), and a `report` frame
    /// to each of their sockets on every node.
    pub async fn report(
        &self,
        reporter: &User,
        room_id: &str,
        message_id: &str,
        reason: &str,
    ) -> Result<Report> {
        self.gate.read(reporter, room_id).await?;
        let reason = validate::reason(reason)?;
        self.limits.report(&reporter.id)?;
        let write = self.store.report(room_id, message_id, reporter, reason);
        let report = self.timed("report", write).await?;
        let moderators = self.store.moderator_ids(room_id).await?;
        let frame = ServerFrame::Report {
            room_id: room_id.to_string(),
            report: report.clone(),
        };
        self.hub
            .send_to_users(&moderators, Utf8Bytes::from(frame.encode()));
        Ok(report)
    }

    /// The room's reports, newest first (moderators only).
    pub async fn reports(
        &self,
        actor: &User,
        room_id: &str,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<Report>> {
        let limit = page_limit(limit)?;
        self.gate
            .require(actor, room_id, Need::Moderate, MODERATORS_ONLY)
            .await?;
        self.store.reports(room_id, before, limit).await
    }

    /// The audit log, newest first: site admins only.
    pub async fn audit(
        &self,
        actor: &User,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<AuditEntry>> {
        let limit = page_limit(limit)?;
        if !actor.admin {
            return Err(Error::Forbidden("only site admins can read the audit log"));
        }
        self.store.audit(before, limit).await
    }
}

/// A page size: 1 to [`PAGE_MAX`], [`PAGE_DEFAULT`] when absent.
fn page_limit(limit: Option<u32>) -> Result<u32> {
    match limit.unwrap_or(PAGE_DEFAULT) {
        limit @ 1..=PAGE_MAX => Ok(limit),
        _ => Err(Error::InvalidRequest(format!("limit is 1 to {PAGE_MAX}"))),
    }
}
