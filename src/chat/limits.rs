//! Abuse limits: a token bucket per user for messages, and per username and per address for
//! sign-in attempts (the `governor` crate's keyed GCRA limiters). Each is a setting; 0 turns it off.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;
use crate::error::{Error, Result};

pub struct Limits {
    messages: Option<DefaultKeyedRateLimiter<String>>,
    login_by_user: Option<DefaultKeyedRateLimiter<String>>,
    login_by_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    pub max_rooms_per_user: usize,
    pub max_connections_per_user: usize,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        let messages = NonZeroU32::new(config.rate_per_sec).map(|rate| {
            let burst = NonZeroU32::new(config.rate_burst.max(1)).expect("at least one");
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        let per_minute = |n: u32| NonZeroU32::new(n).map(|n| Quota::per_minute(n).allow_burst(n));
        Limits {
            messages,
            login_by_user: per_minute(config.login_per_user_per_min).map(RateLimiter::keyed),
            login_by_address: per_minute(config.login_per_address_per_min).map(RateLimiter::keyed),
            max_rooms_per_user: config.max_rooms_per_user,
            max_connections_per_user: config.max_connections_per_user.max(1),
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

    /// One login attempt for this username (any case).
    pub fn login(&self, username: &str) -> Result<()> {
        match &self.login_by_user {
            Some(limiter) if limiter.check_key(&username.to_lowercase()).is_err() => {
                Err(Error::RateLimited)
            }
            _ => Ok(()),
        }
    }

    /// One sign-in attempt (login, register, guest) from this address.
    pub fn sign_in_from(&self, address: IpAddr) -> Result<()> {
        match &self.login_by_address {
            Some(limiter) if limiter.check_key(&address).is_err() => Err(Error::RateLimited),
            _ => Ok(()),
        }
    }

    /// Forgets keys whose buckets are full again, so memory tracks recent activity only.
    pub fn prune(&self) {
        if let Some(l) = &self.messages {
            l.retain_recent();
        }
        if let Some(l) = &self.login_by_user {
            l.retain_recent();
        }
        if let Some(l) = &self.login_by_address {
            l.retain_recent();
        }
    }
}
