//! This node's open connections: the registry, the per-user cap, and the sessions they were
//! opened with (logout and expiry close their sockets).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::outbound::{Connection, Outbound};
use crate::protocol::{close_code, User};

/// Every open connection of this node.
#[derive(Default)]
pub(super) struct Connections {
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    /// Open connections per user id, for the per-user cap without scanning every connection.
    per_user: Mutex<HashMap<String, usize>>,
}

impl Connections {
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
