//! Invite codes: made by who may invite, previewed and accepted by whoever holds one. The store
//! keeps only each code's hash; an accept counts its use in the transaction that adds the member,
//! so a code's last use goes to exactly one of two racing accepts.

use async_trait::async_trait;

use super::backend::Backend;
use super::dialect::{self, sql, Arg};
use super::rooms::{join_in, lock_room};
use super::{now, StoredEvent};
use crate::error::{Error, Result};
use crate::protocol::User;

/// An invite as stored (its code is not: only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    pub room_id: String,
    /// RFC 3339 UTC with milliseconds; `None`: never expires.
    pub expires_at: Option<String>,
    /// 0: no limit.
    pub max_uses: u32,
    pub uses: u32,
}

impl InviteRecord {
    /// Whether it may still be accepted at `now` (the store's time format).
    pub fn live(&self, now: &str) -> bool {
        (self.max_uses == 0 || self.uses < self.max_uses)
            && self.expires_at.as_deref().is_none_or(|at| at > now)
    }
}

#[async_trait]
pub trait InviteStore: Send + Sync + 'static {
    /// Stores a new invite to a live room (`RoomNotFound` otherwise).
    async fn create_invite(
        &self,
        code_hash: &str,
        room_id: &str,
        by: &User,
        expires_at: Option<&str>,
        max_uses: u32,
    ) -> Result<()>;
    async fn invite(&self, code_hash: &str) -> Result<Option<InviteRecord>>;
    /// Adds the user to the invite's room, counting one use: the room's id and the
    /// `member.joined` event. A member already in the room uses nothing and gets `None`.
    /// `InviteNotFound` for no such code, `InviteExpired` for one expired or used up.
    async fn accept_invite(
        &self,
        code_hash: &str,
        user: &User,
    ) -> Result<(String, Option<StoredEvent>)>;
}

fn invite_row(row: &dyn dialect::ReadRow) -> Result<InviteRecord> {
    Ok(InviteRecord {
        room_id: row.text(0)?,
        expires_at: row.opt_text(1)?,
        max_uses: row.int(2)?.clamp(0, u32::MAX as i64) as u32,
        uses: row.int(3)?.clamp(0, u32::MAX as i64) as u32,
    })
}

#[async_trait]
impl<B: Backend> InviteStore for B {
    async fn create_invite(
        &self,
        code_hash: &str,
        room_id: &str,
        by: &User,
        expires_at: Option<&str>,
        max_uses: u32,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let sql = sql!(
            "INSERT INTO invites (code_hash, room_id, created_by, created_at, expires_at, \
             max_uses, uses) VALUES ($1, $2, $3, $4, $5, $6, 0)"
        );
        let at = now();
        let args = [
            Arg::Text(code_hash),
            Arg::Text(room_id),
            Arg::Text(&by.id),
            Arg::Text(&at),
            Arg::OptText(expires_at),
            Arg::Int(max_uses as i64),
        ];
        dialect::execute(&mut *tx, &sql, &args).await?;
        B::commit(tx).await
    }

    async fn invite(&self, code_hash: &str) -> Result<Option<InviteRecord>> {
        let sql = sql!(
            "SELECT i.room_id, i.expires_at, i.max_uses, i.uses FROM invites i \
             JOIN rooms r ON r.id = i.room_id WHERE i.code_hash = $1 AND r.deleted = " FALSE
        );
        let mut conn = self.read().await?;
        dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(code_hash)], invite_row).await
    }

    async fn accept_invite(
        &self,
        code_hash: &str,
        user: &User,
    ) -> Result<(String, Option<StoredEvent>)> {
        let mut tx = self.begin().await?;
        let sql = sql!("SELECT room_id FROM invites WHERE code_hash = $1");
        let room_id =
            dialect::fetch_optional(&mut *tx, &sql, &[Arg::Text(code_hash)], |row| row.text(0))
                .await?
                .ok_or(Error::InviteNotFound)?;
        // The room's lock queues every accept of the room's codes (on any node).
        lock_room(&mut *tx, &room_id)
            .await
            .map_err(|_| Error::InviteNotFound)?;
        let sql = sql!("SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2");
        let args = [Arg::Text(&room_id), Arg::Text(&user.id)];
        if dialect::fetch_optional(&mut *tx, &sql, &args, |_| Ok(()))
            .await?
            .is_some()
        {
            return Ok((room_id, None));
        }
        let sql = sql!(
            "UPDATE invites SET uses = uses + 1 WHERE code_hash = $1 \
             AND (max_uses = 0 OR uses < max_uses) AND (expires_at IS NULL OR expires_at > $2)"
        );
        let at = now();
        let args = [Arg::Text(code_hash), Arg::Text(&at)];
        if dialect::execute(&mut *tx, &sql, &args).await? == 0 {
            return Err(Error::InviteExpired);
        }
        let event = join_in(&mut *tx, &room_id, user).await?;
        B::commit(tx).await?;
        Ok((room_id, event))
    }
}
