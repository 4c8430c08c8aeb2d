//! This node's open connections: the registry, the per-user cap, and the sessions they were
//! opened with (logout and expiry close their sockets); and the sessions long-polls were
//! recently signed in with, kept for a moment so that a poll loop does not read the store's
//! sessions on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::outbound::{Connection, Outbound};
use crate::protocol::{close_code, User};

/// Every open connection of this node.
#[derive(Default)]
pub(super) struct Connections {
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    /// Open connections per user id, for the per-user cap without scanning every connection.
    per_user: Mutex<HashMap<String, usize>>,
    sessions: Mutex<SessionCache>,
    /// Users who changed their profile since this node started, as they are now: a socket
    /// keeps the user it signed in as, and speaks as this one instead.
    profiles: Mutex<HashMap<String, User>>,
}

/// How long a session read for a long-poll is trusted without reading it again. A revocation
/// (logout, a password change, a deleted account; on any node) drops it at once; this bounds
/// only how stale the user's name or admin flag may be in a poll.
const SESSION_TTL: Duration = Duration::from_secs(2);
/// Sessions kept at most (all dropped when full: they are read again).
const SESSION_CACHE_MAX: usize = 50_000;

/// A session as a long-poll needs it: its user and expiry (RFC 3339; `None`: never).
#[derive(Debug, Clone)]
pub struct CachedSession {
    pub user: User,
    pub expires_at: Option<String>,
}

#[derive(Default)]
struct SessionCache {
    /// Token hash → the session, and when it was read from the store.
    entries: HashMap<String, (CachedSession, Instant)>,
    /// Sessions revoked so far: a read that started before a revocation is not kept.
    revocations: u64,
}

impl Connections {
    /// A user changed their profile (here or on another node).
    pub(super) fn profile_changed(&self, user: &User) {
        self.profiles
            .lock()
            .unwrap()
            .insert(user.id.clone(), user.clone());
    }

    /// The user as they are now, if they changed their profile since this node started.
    pub(super) fn newer_profile(&self, user_id: &str) -> Option<User> {
        let profiles = self.profiles.lock().unwrap();
        if profiles.is_empty() {
            return None;
        }
        profiles.get(user_id).cloned()
    }

    /// A session read for a long-poll less than [`SESSION_TTL`] ago and not revoked since.
    pub(super) fn cached_session(&self, token_hash: &str) -> Option<CachedSession> {
        let sessions = self.sessions.lock().unwrap();
        let (session, read_at) = sessions.entries.get(token_hash)?;
        (read_at.elapsed() < SESSION_TTL).then(|| session.clone())
    }

    /// Revocations so far: pass it to [`Connections::keep_session`] with what was read after.
    pub(super) fn session_revocations(&self) -> u64 {
        self.sessions.lock().unwrap().revocations
    }

    /// Keeps a session just read from the store, unless a session was revoked since
    /// `revocations` (it may have been this one).
    pub(super) fn keep_session(&self, token_hash: &str, session: CachedSession, revocations: u64) {
        let mut sessions = self.sessions.lock().unwrap();
        if sessions.revocations != revocations {
            return;
        }
        if sessions.entries.len() >= SESSION_CACHE_MAX {
            sessions.entries.clear();
        }
        sessions
            .entries
            .insert(token_hash.to_string(), (session, Instant::now()));
    }

    /// Registers an open connection, unless its user already has `cap` open here: then `false`.
    pub(super) fn add(&self, conn: Arc<Connection>, cap: usize) -> bool {
        let mut per_user = self.per_user.lock().unwrap();
        let open = per_user.entry(conn.user.id.clone()).or_insert(0);
        if *open >= cap {
            return false;
        }
        *open += 1;
        self.open.lock().unwrap().insert(conn.id, conn);
        true
    }

    /// Forgets a closed connection.
    pub(super) fn remove(&self, conn_id: u64) {
        let Some(conn) = self.open.lock().unwrap().remove(&conn_id) else {
            return;
        };
        let mut per_user = self.per_user.lock().unwrap();
        if let Some(open) = per_user.get_mut(&conn.user.id) {
            *open -= 1;
            if *open == 0 {
                per_user.remove(&conn.user.id);
            }
        }
    }

    pub(super) fn count(&self) -> usize {
        self.open.lock().unwrap().len()
    }

    /// Closes this node's sockets of the session: 1008.
    pub(super) fn close_session(&self, token_hash: &str) {
        {
            let mut sessions = self.sessions.lock().unwrap();
            sessions.entries.remove(token_hash);
            sessions.revocations += 1;
        }
        for conn in self.open.lock().unwrap().values() {
            if conn.token_hash == token_hash {
                conn.closer.close(close_code::POLICY, "session revoked");
            }
        }
    }

    /// Closes every socket whose session has expired by `now`: 1008. Answers how many.
    pub(super) fn close_expired(&self, now: chrono::DateTime<chrono::Utc>) -> usize {
        let mut closed = 0;
        for conn in self.open.lock().unwrap().values() {
            if conn.expires_at.is_some_and(|at| at <= now) && !conn.closer.is_closed() {
                conn.closer.close(close_code::POLICY, "session expired");
                closed += 1;
            }
        }
        closed
    }

    /// Sends a frame to every open connection.
    pub(super) fn broadcast(&self, frame: Utf8Bytes, include: &dyn Fn(&User) -> bool) {
        for conn in self.open.lock().unwrap().values() {
            if include(&conn.user) {
                conn.push(Outbound::Frame(frame.clone()));
            }
        }
    }

    /// Closes every connection with `code`.
    pub(super) fn close_all(&self, code: u16, reason: &'static str) {
        for conn in self.open.lock().unwrap().values() {
            conn.closer.close(code, reason);
        }
    }
}
