//! Abuse limits: a token bucket per user for messages (the `governor` crate's keyed GCRA
//! limiter), and sliding one-minute windows per username and per address for sign-ins. Each is a
//! setting; 0 turns it off.
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
#[derive(Debug)]
pub struct LoginAttempt {
    username: String,
    address: IpAddr,
    by_user: Slot,
    by_address: Slot,
}

pub struct Limits {
    messages: Option<DefaultKeyedRateLimiter<String>>,
    login_by_user: Window<String>,
    login_by_address: Window<IpAddr>,
    pub max_rooms_per_user: usize,
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
            login_by_user: Window::new(config.login_per_user_per_min, minute),
            login_by_address: Window::new(config.login_per_address_per_min, minute),
            max_rooms_per_user: config.max_rooms_per_user,
            max_connections_per_user: config.max_connections_per_user.max(1),
            session_ttl: Duration::from_secs(config.session_ttl_secs.max(1)),
        }
    }

    /// One message-changing action (send, edit, delete, move) by this user.
    pub fn message(&self, user_id: &str) -> Result<()> {
        match &self.messages {
            Some(limiter) if limiter.check_key(&user_id.to_string()).is_err() => {
                Err(Error::RateLimited)
            }
            _ => Ok(()),
        }
    }

    /// Starts one login attempt for this username (any case) from this address; `rate_limited`
    /// when either window is full. Call [`Limits::login_succeeded`] if the password was right.
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

    /// Forgets keys whose buckets are full again, so memory tracks recent activity only.
    pub fn prune(&self) {
        if let Some(l) = &self.messages {
            l.retain_recent();
        }
        self.login_by_user.prune();
        self.login_by_address.prune();
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

    #[test]
    fn a_zero_limit_never_refuses() {
        let window = Window::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            window.take(&0u8).unwrap();
        }
    }
}
