//! Moderation: kicks, bans and mutes (each a room event in the transaction of the change),
//! reports, and reading the audit log, every entry of which is written in the transaction of
//! the action it records ([`super::audit::record_audit`]).
//!
//! A ban or mute is a row of `sanctions` (`kind` 'ban' or 'mute'); one whose `expires_at` has
//! passed is inert (every read compares it with now) until the sweep deletes it.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::audit::{record_audit, NewAudit};
use super::backend::Backend;
use super::dialect::{self, sql, Arg, Conn, ReadRow, RowsSql};
use super::events::append;
use super::rooms::lock_room;
use super::rows::{self, user_columns, user_columns_of, USER_COLUMNS};
use super::{new_id, now, StoredEvent};
use crate::error::{Error, Result};
use crate::protocol::{AuditAction, AuditEntry, EventKind, Report, Role, RoomKind, Sanction, User};

/// A ban or a mute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SanctionKind {
    Ban,
    Mute,
}

impl SanctionKind {
    fn as_str(self) -> &'static str {
        match self {
            SanctionKind::Ban => "ban",
            SanctionKind::Mute => "mute",
        }
    }
}

/// What the gate needs to know of one person in one room beyond the policy's facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    pub banned: bool,
    pub muted: bool,
    /// The room's kind, when the person has a live ban or mute there.
    pub room_kind: Option<RoomKind>,
    /// The person's membership as stored (`None`: not a member), read in the same query when
    /// asked (`with_role`), so that a subscribe's gate and join cost one read together; a send
    /// does not pay for it.
    pub role: Option<Role>,
}

impl Standing {
    /// Folds one row of a standing read in: the membership, one live sanction (if any) and the
    /// room's kind (read with a sanction).
    fn note(&mut self, role: Option<String>, kind: Option<String>, room_kind: Option<String>) {
        self.role = role.as_deref().and_then(Role::parse);
        self.banned |= kind.as_deref() == Some("ban");
        self.muted |= kind.as_deref() == Some("mute");
        if let Some(room_kind) = room_kind {
            self.room_kind = RoomKind::parse(&room_kind);
        }
    }
}

/// Most (room, person) pairs one statement of [`ModerationStore::standings`] reads (three
/// arguments each, far below SQLite's 32,766 a statement).
const STANDINGS_PER_READ: usize = 500;

/// Standings with the membership, of many (room, person, now) rows: one row per pair without a
/// live sanction, one per live sanction otherwise.
static STANDINGS: RowsSql = RowsSql::new(
    sql!(
        "SELECT k.column1, k.column2, \
         (SELECT role FROM members m WHERE m.room_id = k.column1 AND m.user_id = k.column2), \
         s.kind, r.kind FROM (VALUES "
    ),
    3,
    sql!(
        ") AS k LEFT JOIN sanctions s ON s.room_id = k.column1 AND s.user_id = k.column2 \
         AND (s.expires_at IS NULL OR s.expires_at > k.column3) \
         LEFT JOIN rooms r ON r.id = s.room_id"
    ),
);

/// A standing row: the pair, then the membership, a live sanction's kind and the room's kind.
type StandingRow = (
    (String, String),
    (Option<String>, Option<String>, Option<String>),
);

/// One statement of [`ModerationStore::standings`].
async fn standings_in<C: Conn>(
    conn: &mut C,
    pairs: &[(String, String)],
    at: &str,
) -> Result<Vec<StandingRow>> {
    let mut args = Vec::with_capacity(pairs.len() * 3);
    for (room_id, user_id) in pairs {
        args.extend([Arg::Text(room_id), Arg::Text(user_id), Arg::Text(at)]);
    }
    let sql = STANDINGS.text(C::DIALECT, pairs.len());
    dialect::fetch_all_text(conn, &sql, &args, |row| {
        Ok((
            (row.text(0)?, row.text(1)?),
            (row.opt_text(2)?, row.opt_text(3)?, row.opt_text(4)?),
        ))
    })
    .await
}

/// Moderation's procedures.
#[async_trait]
pub trait ModerationStore: Send + Sync + 'static {
    /// The user with this id (`None`: no such user), for a moderation target.
    async fn moderation_target(&self, user_id: &str) -> Result<Option<User>>;
    /// The person's live ban and mute in the room.
    async fn standing(&self, room_id: &str, user_id: &str, with_role: bool) -> Result<Standing>;
    /// [`Self::standing`] with the membership of many `(room id, user id)` pairs in one read
    /// (subscribes that arrive together, gathered): one answer per pair, in order.
    async fn standings(&self, pairs: &[(String, String)]) -> Result<Vec<Standing>>;
    /// Removes a member: the `member.kicked` event; `MemberNotFound` when not a member.
    async fn kick(&self, room_id: &str, target: &User, by: &User) -> Result<StoredEvent>;
    /// Bans or mutes (again: the new expiry replaces the old); a ban also ends the membership.
    /// The `member.banned` / `member.muted` event.
    async fn sanction(
        &self,
        room_id: &str,
        kind: SanctionKind,
        target: &User,
        by: &User,
        expires_at: Option<&str>,
    ) -> Result<(Sanction, StoredEvent)>;
    /// Lifts a live ban or mute: the `member.unbanned` / `member.unmuted` event;
    /// `BanNotFound` / `MuteNotFound` when there is none.
    async fn lift(
        &self,
        room_id: &str,
        kind: SanctionKind,
        target: &User,
        by: &User,
    ) -> Result<StoredEvent>;
    /// The room's live bans or mutes, oldest first.
    async fn sanctions(&self, room_id: &str, kind: SanctionKind) -> Result<Vec<Sanction>>;
    /// A moderator deletes someone else's message: as `MessageStore::delete_message`, audited.
    async fn moderator_delete(
        &self,
        room_id: &str,
        message_id: &str,
        by: &User,
    ) -> Result<StoredEvent>;
    /// Stores a report of a live message of the room (audited).
    async fn report(
        &self,
        room_id: &str,
        message_id: &str,
        reporter: &User,
        reason: &str,
    ) -> Result<Report>;
    /// The room's reports, newest first, those before the report `before` (an id) if given.
    async fn reports(&self, room_id: &str, before: Option<&str>, limit: u32)
        -> Result<Vec<Report>>;
    /// The ids of everyone who moderates the room: its owner, its admins and moderators, and
    /// the site admins.
    async fn moderator_ids(&self, room_id: &str) -> Result<Vec<String>>;
    /// The audit log, newest first, the entries before the entry `before` (an id) if given.
    async fn audit(&self, before: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>>;
    /// Deletes the bans and mutes that have expired; answers how many.
    async fn delete_expired_sanctions(&self) -> Result<u64>;
}

/// A sanction: `s.room_id, s.created_at, s.expires_at`, the user's then the moderator's
/// [`user_columns!`] (as `u` and `b`).
macro_rules! sanction_select {
    () => {
        concat!(
            "SELECT s.room_id, s.created_at, s.expires_at, ",
            user_columns_of!("u"),
            ", ",
            user_columns_of!("b"),
            " FROM sanctions s JOIN users u ON u.id = s.user_id JOIN users b ON b.id = s.by_id"
        )
    };
}

fn sanction_row(row: &dyn ReadRow) -> Result<Sanction> {
    Ok(Sanction {
        room_id: row.text(0)?,
        created_at: row.text(1)?,
        expires_at: row.opt_text(2)?,
        user: rows::user(row, 3)?,
        by: rows::user(row, 3 + USER_COLUMNS)?,
    })
}

/// A report: `p.id, p.room_id, p.reason, p.created_at`, the reporter (`u`), then the message
/// with its author ([`message_columns!`], `m` and `a`).
macro_rules! report_select {
    () => {
        concat!(
            "SELECT p.id, p.room_id, p.reason, p.created_at, ",
            user_columns_of!("u"),
            ", m.id, m.room_id, m.seq, m.body, m.client_id, m.created_at, m.edited_at, \
             m.position, ",
            user_columns_of!("a"),
            ", m.mentions",
            ", m.attachments",
            " FROM reports p JOIN users u ON u.id = p.reporter_id \
             JOIN messages m ON m.id = p.message_id JOIN users a ON a.id = m.author_id"
        )
    };
}

/// The message columns of [`report_select!`] begin here.
const REPORT_MESSAGE_AT: usize = 4 + USER_COLUMNS;

fn report_row(row: &dyn ReadRow) -> Result<Report> {
    let message = rows::message_at(row, REPORT_MESSAGE_AT)?;
    Ok(Report {
        id: row.text(0)?,
        room_id: row.text(1)?,
        reason: row.text(2)?,
        created_at: row.text(3)?,
        reporter: rows::user(row, 4)?,
        message,
    })
}

fn audit_row(row: &dyn ReadRow) -> Result<AuditEntry> {
    let action = row.text(2)?;
    let detail = row.text(5)?;
    Ok(AuditEntry {
        id: row.text(0)?,
        at: row.text(1)?,
        action: AuditAction::parse(&action)
            .ok_or_else(|| anyhow::anyhow!("unknown audit action {action:?}"))?,
        room_id: row.opt_text(3)?,
        target_user_id: row.opt_text(4)?,
        detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
        actor: rows::user(row, 6)?,
    })
}

/// Ends the user's membership of the room: whether they were a member.
async fn end_membership<C: Conn>(conn: &mut C, room_id: &str, user_id: &str) -> Result<bool> {
    let sql = sql!("DELETE FROM members WHERE room_id = $1 AND user_id = $2");
    let args = [Arg::Text(room_id), Arg::Text(user_id)];
    Ok(dialect::execute(conn, &sql, &args).await? > 0)
}

#[async_trait]
impl<B: Backend> ModerationStore for B {
    async fn moderation_target(&self, user_id: &str) -> Result<Option<User>> {
        let sql = sql!("SELECT " user_columns!() " FROM users u WHERE u.id = $1");
        let mut conn = self.read().await?;
        dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(user_id)], |row| {
            rows::user(row, 0)
        })
        .await
    }

    async fn standing(&self, room_id: &str, user_id: &str, with_role: bool) -> Result<Standing> {
        // One row when there is no live sanction; one per live sanction otherwise.
        let sql = match with_role {
            true => sql!(
                "SELECT (SELECT role FROM members WHERE room_id = $1 AND user_id = $2), \
                 s.kind, r.kind FROM (SELECT 1) one \
                 LEFT JOIN sanctions s ON s.room_id = $1 AND s.user_id = $2 \
                 AND (s.expires_at IS NULL OR s.expires_at > $3) \
                 LEFT JOIN rooms r ON r.id = s.room_id"
            ),
            false => sql!(
                "SELECT NULL, s.kind, r.kind FROM sanctions s JOIN rooms r ON r.id = s.room_id \
                 WHERE s.room_id = $1 AND s.user_id = $2 \
                 AND (s.expires_at IS NULL OR s.expires_at > $3)"
            ),
        };
        let at = now();
        let args = [Arg::Text(room_id), Arg::Text(user_id), Arg::Text(&at)];
        let mut conn = self.read().await?;
        let found = dialect::fetch_all(&mut *conn, &sql, &args, |row| {
            Ok((row.opt_text(0)?, row.opt_text(1)?, row.opt_text(2)?))
        })
        .await?;
        let mut standing = Standing::default();
        for (role, kind, room_kind) in found {
            standing.note(role, kind, room_kind);
        }
        Ok(standing)
    }

    async fn standings(&self, pairs: &[(String, String)]) -> Result<Vec<Standing>> {
        let at = now();
        let mut found = std::collections::HashMap::<(String, String), Standing>::new();
        let mut conn = self.read().await?;
        for chunk in pairs.chunks(STANDINGS_PER_READ) {
            let rows = standings_in(&mut *conn, chunk, &at).await?;
            for (pair, (role, kind, room_kind)) in rows {
                found.entry(pair).or_default().note(role, kind, room_kind);
            }
        }
        Ok(pairs
            .iter()
            .map(|pair| found.get(pair).copied().unwrap_or_default())
            .collect())
    }

    async fn kick(&self, room_id: &str, target: &User, by: &User) -> Result<StoredEvent> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        if !end_membership(&mut *tx, room_id, &target.id).await? {
            return Err(Error::MemberNotFound);
        }
        let kind = EventKind::MemberKicked {
            user: target.clone(),
            by: by.clone(),
        };
        let event = append(&mut *tx, room_id, kind, None).await?;
        let audit = NewAudit {
            actor_id: &by.id,
            action: AuditAction::Kick,
            room_id: Some(room_id),
            target_user_id: Some(&target.id),
            detail: json!({}),
        };
        record_audit(&mut *tx, &audit).await?;
        B::commit(tx).await?;
        Ok(event)
    }

    async fn sanction(
        &self,
        room_id: &str,
        kind: SanctionKind,
        target: &User,
        by: &User,
        expires_at: Option<&str>,
    ) -> Result<(Sanction, StoredEvent)> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let created_at = now();
        let sql = sql!(
            "INSERT INTO sanctions (room_id, user_id, kind, by_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (room_id, user_id, kind) \
             DO UPDATE SET by_id = $4, created_at = $5, expires_at = $6"
        );
        let args = [
            Arg::Text(room_id),
            Arg::Text(&target.id),
            Arg::Text(kind.as_str()),
            Arg::Text(&by.id),
            Arg::Text(&created_at),
            Arg::OptText(expires_at),
        ];
        dialect::execute(&mut *tx, &sql, &args).await?;
        let (user, by_user, expires) = (target.clone(), by.clone(), expires_at.map(String::from));
        let (event_kind, action) = match kind {
            SanctionKind::Ban => {
                end_membership(&mut *tx, room_id, &target.id).await?;
                let kind = EventKind::MemberBanned {
                    user,
                    by: by_user,
                    expires_at: expires,
                };
                (kind, AuditAction::Ban)
            }
            SanctionKind::Mute => {
                let kind = EventKind::MemberMuted {
                    user,
                    by: by_user,
                    expires_at: expires,
                };
                (kind, AuditAction::Mute)
            }
        };
        let event = append(&mut *tx, room_id, event_kind, None).await?;
        let audit = NewAudit {
            actor_id: &by.id,
            action,
            room_id: Some(room_id),
            target_user_id: Some(&target.id),
            detail: json!({ "expires_at": expires_at }),
        };
        record_audit(&mut *tx, &audit).await?;
        B::commit(tx).await?;
        let sanction = Sanction {
            room_id: room_id.to_string(),
            user: target.clone(),
            by: by.clone(),
            expires_at: expires_at.map(String::from),
            created_at,
        };
        Ok((sanction, event))
    }

    async fn lift(
        &self,
        room_id: &str,
        kind: SanctionKind,
        target: &User,
        by: &User,
    ) -> Result<StoredEvent> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let sql = sql!(
            "DELETE FROM sanctions WHERE room_id = $1 AND user_id = $2 AND kind = $3 \
             AND (expires_at IS NULL OR expires_at > $4)"
        );
        let at = now();
        let args = [
            Arg::Text(room_id),
            Arg::Text(&target.id),
            Arg::Text(kind.as_str()),
            Arg::Text(&at),
        ];
        if dialect::execute(&mut *tx, &sql, &args).await? == 0 {
            return Err(match kind {
                SanctionKind::Ban => Error::BanNotFound,
                SanctionKind::Mute => Error::MuteNotFound,
            });
        }
        let (user, by_user) = (target.clone(), by.clone());
        let (event_kind, action) = match kind {
            SanctionKind::Ban => (
                EventKind::MemberUnbanned { user, by: by_user },
                AuditAction::Unban,
            ),
            SanctionKind::Mute => (
                EventKind::MemberUnmuted { user, by: by_user },
                AuditAction::Unmute,
            ),
        };
        let event = append(&mut *tx, room_id, event_kind, None).await?;
        let audit = NewAudit {
            actor_id: &by.id,
            action,
            room_id: Some(room_id),
            target_user_id: Some(&target.id),
            detail: json!({}),
        };
        record_audit(&mut *tx, &audit).await?;
        B::commit(tx).await?;
        Ok(event)
    }

    async fn sanctions(&self, room_id: &str, kind: SanctionKind) -> Result<Vec<Sanction>> {
        let sql = sql!(
            sanction_select!() " WHERE s.room_id = $1 AND s.kind = $2 \
             AND (s.expires_at IS NULL OR s.expires_at > $3) ORDER BY s.created_at, s.user_id"
        );
        let at = now();
        let args = [Arg::Text(room_id), Arg::Text(kind.as_str()), Arg::Text(&at)];
        let mut conn = self.read().await?;
        super::rooms::room_in(&mut *conn, room_id).await?;
        dialect::fetch_all(&mut *conn, &sql, &args, sanction_row).await
    }

    async fn moderator_delete(
        &self,
        room_id: &str,
        message_id: &str,
        by: &User,
    ) -> Result<StoredEvent> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let (event, author_id) = super::messages::delete_in(&mut *tx, room_id, message_id).await?;
        let audit = NewAudit {
            actor_id: &by.id,
            action: AuditAction::DeleteMessage,
            room_id: Some(room_id),
            target_user_id: Some(&author_id),
            detail: json!({ "message_id": message_id }),
        };
        record_audit(&mut *tx, &audit).await?;
        B::commit(tx).await?;
        Ok(event)
    }

    async fn report(
        &self,
        room_id: &str,
        message_id: &str,
        reporter: &User,
        reason: &str,
    ) -> Result<Report> {
        let mut tx = self.begin().await?;
        let live = sql!(
            "SELECT m.author_id FROM messages m JOIN rooms r ON r.id = m.room_id \
             WHERE m.id = $1 AND m.room_id = $2 AND m.deleted = " FALSE " AND r.deleted = " FALSE
        );
        let args = [Arg::Text(message_id), Arg::Text(room_id)];
        let author_id = dialect::fetch_optional(&mut *tx, &live, &args, |row| row.text(0))
            .await?
            .ok_or(Error::MessageNotFound)?;
        let (id, at) = (new_id(), now());
        let insert = sql!(
            "INSERT INTO reports (id, room_id, message_id, reporter_id, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        );
        let args = [
            Arg::Text(&id),
            Arg::Text(room_id),
            Arg::Text(message_id),
            Arg::Text(&reporter.id),
            Arg::Text(reason),
            Arg::Text(&at),
        ];
        dialect::execute(&mut *tx, &insert, &args).await?;
        let audit = NewAudit {
            actor_id: &reporter.id,
            action: AuditAction::Report,
            room_id: Some(room_id),
            target_user_id: Some(&author_id),
            detail: json!({ "report_id": id, "message_id": message_id, "reason": reason }),
        };
        record_audit(&mut *tx, &audit).await?;
        let read = sql!(report_select!() " WHERE p.id = $1");
        let report = dialect::fetch_optional(&mut *tx, &read, &[Arg::Text(&id)], report_row)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the report just written is missing"))?;
        B::commit(tx).await?;
        Ok(report)
    }

    async fn reports(
        &self,
        room_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Report>> {
        let sql = sql!(
            report_select!() " WHERE p.room_id = $1 AND (CAST($2 AS TEXT) IS NULL OR p.id < $2) \
             ORDER BY p.id DESC LIMIT $3"
        );
        let args = [
            Arg::Text(room_id),
            Arg::OptText(before),
            Arg::Int(i64::from(limit)),
        ];
        let mut conn = self.read().await?;
        super::rooms::room_in(&mut *conn, room_id).await?;
        dialect::fetch_all(&mut *conn, &sql, &args, report_row).await
    }

    async fn moderator_ids(&self, room_id: &str) -> Result<Vec<String>> {
        let sql = sql!(
            "SELECT user_id FROM members WHERE room_id = $1 \
             AND role IN ('owner', 'admin', 'moderator') \
             UNION SELECT owner_id FROM rooms WHERE id = $1 AND owner_id IS NOT NULL \
             UNION SELECT id FROM users WHERE admin = " TRUE
        );
        let mut conn = self.read().await?;
        dialect::fetch_all(&mut *conn, &sql, &[Arg::Text(room_id)], |row| row.text(0)).await
    }

    async fn audit(&self, before: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>> {
        let sql = sql!(
            "SELECT l.id, l.at, l.action, l.room_id, l.target_user_id, l.detail, "
            user_columns!() " FROM audit_log l JOIN users u ON u.id = l.actor_id \
             WHERE (CAST($1 AS TEXT) IS NULL OR l.id < $1) ORDER BY l.id DESC LIMIT $2"
        );
        let args = [Arg::OptText(before), Arg::Int(i64::from(limit))];
        let mut conn = self.read().await?;
        dialect::fetch_all(&mut *conn, &sql, &args, audit_row).await
    }

    async fn delete_expired_sanctions(&self) -> Result<u64> {
        let sql = sql!("DELETE FROM sanctions WHERE expires_at IS NOT NULL AND expires_at <= $1");
        let at = now();
        let mut conn = self.write().await?;
        Ok(dialect::execute(&mut *conn, &sql, &[Arg::Text(&at)]).await?)
    }
}
