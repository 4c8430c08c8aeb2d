//! Abuse limits: token buckets per user (the `governor` crate's keyed GCRA limiter) for
//! messages, room changes and membership changes, and sliding one-minute windows per username
//! and per address for sign-ins. Each is a setting; 0 turns it off.
//!
//! Every state-changing call takes from one of the buckets, so no one user can make the server
//! fan out unbounded work:
//! - messages (send, edit, delete, move): every subscriber of the room gets each one;
//! - room changes (create, update, delete, clear): create and delete reach every signed-in
//!   socket at once, clear every subscriber; updates reach the room lists coalesced (at most
//!   one `room_list` per room per flush), but still write an event;
//! - membership changes (joins and leaves that write an event; a subscribe that joins): each is
//!   a permanent row in the room's log. A leave and a rejoin cost two, and the bucket is the
//!   user's across all rooms, so one person's churn can't dominate any room's log. A join of a
//!   room one is already a member of (a socket's resume) and a leave of a room one isn't in
//!   write nothing and take nothing.
//!
//! Sign-ins are limited against brute force without locking out people who sign in correctly:
//! - per username: failed logins only. An attempt takes a slot before the password is checked
//!   (so a burst of concurrent guesses cannot all slip past the check) and gives it back when it
//!   succeeds. Once the window holds the limit of failures, every login for that name, even with
//!   the right password, is `rate_limited` until the oldest failure is a minute old.
//! - per address: every register and guest sign-in (each makes an account), and failed logins,
//!   counted the same way. Successful logins do not count, so one office behind one address can
//!   sign in all day; a password sprayer from one address is stopped after the limit.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;
use crate::error::{Error, Result};

/// At most `limit` attempts per key in any sliding minute; an attempt can be given back.
pub struct Window<K> {
    limit: usize,
    span: Duration,
    attempts: Mutex<HashMap<K, VecDeque<Instant>>>,
}

/// A taken slot: [`Window::release`] gives it back (the attempt succeeded).
#[derive(Debug, Clone, Copy)]
pub struct Slot(Option<Instant>);

impl<K: Hash + Eq + Clone> Window<K> {
    pub fn new(limit: u32, span: Duration) -> Self {
        Window {
            limit: limit as usize,
            span,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a slot for one attempt, or `rate_limited` when the window is full. A limit of 0
    /// never refuses.
    pub fn take(&self, key: &K) -> Result<Slot> {
        if self.limit == 0 {
            return Ok(Slot(None));
        }
        let now = Instant::now();
        let mut attempts = self.attempts.lock().unwrap();
        let recent = attempts.entry(key.clone()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.span)
        {
            recent.pop_front();
        }
        if recent.len() >= self.limit {
            return Err(Error::RateLimited);
        }
        recent.push_back(now);
        Ok(Slot(Some(now)))
    }

    /// Gives a slot back: the attempt does not count.
    pub fn release(&self, key: &K, slot: Slot) {
        let Some(at) = slot.0 else { return };
        let mut attempts = self.attempts.lock().unwrap();
        if let Some(recent) = attempts.get_mut(key) {
            if let Some(i) = recent.iter().rposition(|t| *t == at) {
                recent.remove(i);
            }
            if recent.is_empty() {
                attempts.remove(key);
            }
        }
    }

    /// Forgets keys with no attempt in the window.
    pub fn prune(&self) {
        let now = Instant::now();
        self.attempts.lock().unwrap().retain(|_, recent| {
            recent
                .back()
                .is_some_and(|t| now.duration_since(*t) < self.span)
        });
    }
}

/// The slots one login attempt holds: give them back if it succeeds.
/// Most reports one person may file in any sliding minute.
pub const REPORTS_PER_MINUTE: u32 = 10;

#[derive(Debug)]
pub struct LoginAttempt {
    username: String,
    address: IpAddr,
    by_user: Slot,
    by_address: Slot,
}

/// A token bucket per user: `burst` at once, then `per_minute`; `None` when the rate is 0 (off).
fn per_user(per_minute: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    let rate = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new(burst.max(1)).expect("at least one");
    Some(RateLimiter::keyed(
        Quota::per_minute(rate).allow_burst(burst),
    ))
}

/// Takes one from the user's bucket, or `rate_limited`; an absent bucket never refuses.
fn take(limiter: &Option<DefaultKeyedRateLimiter<String>>, user_id: &str) -> Result<()> {
    match limiter {
        Some(limiter) if limiter.check_key(&user_id.to_string()).is_err() => {
            Err(Error::RateLimited)
        }
        _ => Ok(()),
    }
}

pub struct Limits {
    messages: Option<DefaultKeyedRateLimiter<String>>,
    room_changes: Option<DefaultKeyedRateLimiter<String>>,
    memberships: Option<DefaultKeyedRateLimiter<String>>,
    /// Posts per incoming webhook, keyed by the webhook's id.
    webhooks: Option<DefaultKeyedRateLimiter<String>>,
    login_by_user: Window<String>,
    login_by_address: Window<IpAddr>,
    /// Reports per user in any sliding minute ([`REPORTS_PER_MINUTE`]).
    reports: Window<String>,
    guests_by_address: Window<IpAddr>,
    guests_overall: Window<()>,
    /// How long a guest's name stays theirs after their last session ended.
    pub guest_name_grace: Duration,
    pub max_rooms_per_user: usize,
    pub max_bots_per_user: usize,
    pub max_connections_per_user: usize,
    /// How long a session lives after sign-in.
    pub session_ttl: Duration,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        let messages = NonZeroU32::new(config.rate_per_sec).map(|rate| {
            let burst = NonZeroU32::new(config.rate_burst.max(1)).expect("at least one");
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        let minute = Duration::from_secs(60);
        Limits {
            messages,
            room_changes: per_user(config.room_rate_per_min, config.room_rate_burst),
            memberships: per_user(config.join_rate_per_min, config.join_rate_burst),
            webhooks: per_user(config.webhook_rate_per_min, config.webhook_rate_burst),
            login_by_user: Window::new(config.login_per_user_per_min, minute),
            login_by_address: Window::new(config.login_per_address_per_min, minute),
            reports: Window::new(REPORTS_PER_MINUTE, minute),
            guests_by_address: Window::new(config.guests_per_address_per_min, minute),
            guests_overall: Window::new(config.guests_per_min, minute),
            guest_name_grace: Duration::from_secs(config.guest_name_grace_secs),
            max_rooms_per_user: config.max_rooms_per_user,
            max_bots_per_user: config.max_bots_per_user,
            max_connections_per_user: config.max_connections_per_user.max(1),
            session_ttl: Duration::from_secs(config.session_ttl_secs.max(1)),
        }
    }

    /// One message-changing action (send, edit, delete, move) by this user.
    pub fn message(&self, user_id: &str) -> Result<()> {
        take(&self.messages, user_id)
    }

    /// One post through the incoming webhook with this id.
    pub fn webhook(&self, webhook_id: &str) -> Result<()> {
        take(&self.webhooks, webhook_id)
    }

    /// One room change (create, update, delete, clear) by this user.
    pub fn room_change(&self, user_id: &str) -> Result<()> {
        take(&self.room_changes, user_id)
    }

    /// One membership change that writes an event (a join or a leave) by this user.
    pub fn membership(&self, user_id: &str) -> Result<()> {
        take(&self.memberships, user_id)
    }

    /// Starts one login attempt for this username (any case) from this address; `rate_limited`
    /// when either window is full. Call [`Limits::login_succeeded`] if the password was right.
    /// One report of a message: each reaches every moderator of the room.
    pub fn report(&self, user_id: &str) -> Result<()> {
        self.reports.take(&user_id.to_string()).map(|_| ())
    }

    pub fn login(&self, username: &str, address: IpAddr) -> Result<LoginAttempt> {
        let username = username.to_lowercase();
        let by_address = self.login_by_address.take(&address)?;
        let by_user = match self.login_by_user.take(&username) {
            Ok(slot) => slot,
            Err(err) => {
                self.login_by_address.release(&address, by_address);
                return Err(err);
            }
        };
        Ok(LoginAttempt {
            username,
            address,
            by_user,
            by_address,
        })
    }

    /// The attempt signed in: it does not count against the username or the address.
    pub fn login_succeeded(&self, attempt: LoginAttempt) {
        self.login_by_user
            .release(&attempt.username, attempt.by_user);
        self.login_by_address
            .release(&attempt.address, attempt.by_address);
    }

    /// One account-making sign-in (register, guest) from this address.
    pub fn sign_in_from(&self, address: IpAddr) -> Result<()> {
        self.login_by_address.take(&address).map(|_| ())
    }

    /// One guest sign-in from this address: `rate_limited` when this address, or everyone
    /// together, made as many guests as allowed in the last minute.
    pub fn guest_from(&self, address: IpAddr) -> Result<()> {
        let slot = self.guests_by_address.take(&address).map_err(|_| {
            Error::RateLimitedBecause(
                "too many guest sign-ins from your address; try again in a minute",
            )
        })?;
        if self.guests_overall.take(&()).is_err() {
            self.guests_by_address.release(&address, slot);
            return Err(Error::RateLimitedBecause(
                "too many guest sign-ins on this server right now; try again in a minute",
            ));
        }
        Ok(())
    }

    /// Forgets keys whose buckets are full again, so memory tracks recent activity only.
    pub fn prune(&self) {
        for limiter in [
            &self.messages,
            &self.room_changes,
            &self.memberships,
            &self.webhooks,
        ]
        .into_iter()
        .flatten()
        {
            limiter.retain_recent();
        }
        self.login_by_user.prune();
        self.login_by_address.prune();
        self.reports.prune();
        self.guests_by_address.prune();
        self.guests_overall.prune();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_refuses_over_its_limit_and_released_slots_do_not_count() {
        let window = Window::new(2, Duration::from_secs(60));
        let key = "k".to_string();
        let first = window.take(&key).unwrap();
        window.take(&key).unwrap();
        assert!(matches!(window.take(&key), Err(Error::RateLimited)));
        window.release(&key, first);
        window.take(&key).unwrap();
        assert!(window.take(&"other".to_string()).is_ok());
    }

    #[test]
    fn a_window_forgets_attempts_older_than_its_span() {
        let window = Window::new(1, Duration::from_millis(0));
        let key = 1u8;
        window.take(&key).unwrap();
        window.take(&key).unwrap();
        window.prune();
        assert!(window.attempts.lock().unwrap().is_empty());
    }

    fn limits(tweak: impl FnOnce(&mut Config)) -> Limits {
        let mut config = Config::for_data_dir("unused");
        tweak(&mut config);
        Limits::from_config(&config)
    }

    #[test]
    fn room_and_membership_changes_have_their_own_bucket_per_user() {
        let limits = limits(|c| {
            (c.room_rate_burst, c.room_rate_per_min) = (3, 1);
            (c.join_rate_burst, c.join_rate_per_min) = (2, 1);
        });
        for _ in 0..3 {
            limits.room_change("a").unwrap();
        }
        assert!(matches!(limits.room_change("a"), Err(Error::RateLimited)));
        // Another bucket, and another user, are untouched.
        limits.membership("a").unwrap();
        limits.membership("a").unwrap();
        assert!(matches!(limits.membership("a"), Err(Error::RateLimited)));
        limits.room_change("b").unwrap();
        limits.membership("b").unwrap();
        limits.message("a").unwrap();
    }

    #[test]
    fn a_zero_rate_turns_a_bucket_off() {
        let limits = limits(|c| {
            (c.room_rate_burst, c.room_rate_per_min) = (1, 0);
            (c.join_rate_burst, c.join_rate_per_min) = (1, 0);
        });
        for _ in 0..100 {
            limits.room_change("a").unwrap();
            limits.membership("a").unwrap();
        }
    }

    #[test]
    fn the_defaults_allow_a_burst_of_20_room_changes_and_10_membership_changes() {
        let limits = limits(|_| {});
        let start = Instant::now();
        let room = (0..100).filter(|_| limits.room_change("a").is_ok()).count();
        let joins = (0..100).filter(|_| limits.membership("a").is_ok()).count();
        // Refills (one per 500 ms, one per 5 s) can only add to the burst, on a slow machine.
        let ms = start.elapsed().as_millis() as usize;
        assert!((20..=20 + ms / 500).contains(&room), "{room} in {ms} ms");
        assert!((10..=10 + ms / 5000).contains(&joins), "{joins} in {ms} ms");
    }

    #[test]
    fn a_zero_limit_never_refuses() {
        let window = Window::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            window.take(&0u8).unwrap();
        }
    }
}
