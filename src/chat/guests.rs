//! Guests without bounds (issue #23 item 6): a guest's name is theirs while any of their
//! sessions lives; once the last one has ended (logout, revoke, expiry) and the grace
//! (`PALAVER_GUEST_NAME_GRACE_SECS`) has passed, the guest account expires: its name is freed
//! (the row stays, so its messages stay attributed to it), its memberships end with
//! `member.left` events. A sign-in that wants such a name retires the old guest on the spot; the
//! minute sweep retires the rest.
//!
//! The grace counts from when the server saw the last session end: at once for a logout or a
//! revoke, at the next sweep (within a minute) for an expiry.

use std::time::Instant;

use crate::error::{Error, Result};
use crate::store::people::Ending;

use super::Chat;

/// Most guests one sweep retires (the next sweep takes the rest).
pub const SWEEP_BATCH: u32 = 500;

/// How often a sweep also reads every guest for one with no live session that nothing released
/// (a safety net: a logout, a revoke or an expiry each releases its guest as it happens). The
/// read passes over every live guest, so it is not made every minute on every node (at 100,000
/// guests on six nodes it held PostgreSQL busy for minutes).
pub const FULL_RELEASE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl Chat {
    /// The grace a guest's name has after its last session ended.
    pub fn guest_name_grace(&self) -> std::time::Duration {
        self.limits.guest_name_grace
    }

    /// Whether guests may sign in.
    pub fn allow_guests(&self) -> bool {
        self.allow_guests
    }

    /// A guest's session ended (logout, revoke): if it was the last, the grace of the name
    /// starts now. The session is gone either way; should this note fail, the sweep's hourly
    /// pass makes it (and a sign-in that wants the name releases it on the spot).
    pub(super) async fn guest_session_ended(&self, user_id: &str) {
        if let Err(err) = self.store.release_idle_guests(Some(user_id)).await {
            err.log_if_internal();
        }
    }

    /// The cutoff of the grace: guests released at or before it may be retired.
    fn grace_cutoff(&self) -> String {
        let grace = chrono::Duration::from_std(self.limits.guest_name_grace)
            .unwrap_or(chrono::Duration::MAX)
            .min(chrono::Duration::days(365 * 100));
        crate::store::timestamp(chrono::Utc::now() - grace)
    }

    /// Retires the guest if its grace is over: the name is freed, its memberships end.
    /// Answers whether it was retired.
    async fn retire_guest(&self, user_id: &str, cutoff: &str) -> Result<bool> {
        let ending = Ending::GuestExpired {
            cutoff: cutoff.to_string(),
        };
        let Some(ended) = self.store.end_account(user_id, &ending).await? else {
            return Ok(false);
        };
        self.account_ended(ended);
        Ok(true)
    }

    /// Retires the guests whose grace is over (those whose sessions expired were released as
    /// the sweep deleted the sessions); at the first sweep and then hourly, first notes every
    /// guest left with no live session. Answers how many were retired. Runs every minute; tests
    /// may call it.
    pub async fn sweep_guests(&self) -> Result<u64> {
        let due = self
            .full_release
            .lock()
            .unwrap()
            .is_none_or(|at| at.elapsed() >= FULL_RELEASE_EVERY);
        if due {
            // Only a pass that succeeded waits an hour for the next.
            self.store.release_idle_guests(None).await?;
            *self.full_release.lock().unwrap() = Some(Instant::now());
        }
        let cutoff = self.grace_cutoff();
        let mut retired = 0;
        for id in self.store.releasable_guests(&cutoff, SWEEP_BATCH).await? {
            if self.retire_guest(&id, &cutoff).await? {
                retired += 1;
            }
        }
        if retired > 0 {
            self.usernames.forget_all().await;
        }
        Ok(retired)
    }

    /// `username_taken` unless the name (and every look-alike) is free. A name held by a guest
    /// whose grace is over is freed here, so the sign-in that wants it gets it at once.
    pub(super) async fn name_free(&self, username: &str, guest: bool) -> Result<()> {
        let store = self.store.as_ref();
        match self.usernames.free(store, username, guest).await {
            Err(Error::UsernameTaken) => {}
            other => return other,
        }
        let reclaimed = match self.store.find_user_by_name(username).await? {
            Some(holder) if holder.user.guest => {
                self.store
                    .release_idle_guests(Some(&holder.user.id))
                    .await?;
                if !self
                    .retire_guest(&holder.user.id, &self.grace_cutoff())
                    .await?
                {
                    return Err(Error::UsernameTaken);
                }
                true
            }
            Some(_) => return Err(Error::UsernameTaken),
            // A look-alike, or a name another node freed: read the names again, at most
            // every few seconds.
            None => false,
        };
        if reclaimed || self.usernames.may_reload(Instant::now()) {
            self.usernames.forget_all().await;
            return self.usernames.free(store, username, guest).await;
        }
        Err(Error::UsernameTaken)
    }
}
