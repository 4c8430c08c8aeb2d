//! Room scopes: a bot's token may be limited to chosen rooms, and a webhook's poster reaches only
//! its room. The scope is a fact of the caller that the gate ([`super::access::Gate`]) checks
//! before its policy, on every path: a room outside it answers `room_not_found`, as if it did not
//! exist, whatever the policy would say. People have no scope (and cost nothing here).
//!
//! A bot-like user's scope never changes after it is made (a bot's room list is given once, a
//! webhook has one room; a deleted bot reaches no room), so each node keeps the scopes it has
//! read, for the synchronous checks of room-list frames. A bot whose scope this node has not read
//! yet is left out of those frames (it is read when the bot signs in: [`Scopes::load`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::error::Result;
use crate::protocol::User;
use crate::store::{Scope, Store};

pub struct Scopes {
    store: Arc<dyn Store>,
    known: RwLock<HashMap<String, Arc<Scope>>>,
}

fn reaches(scope: &Scope, room_id: &str) -> bool {
    match scope {
        Scope::Everywhere => true,
        Scope::Rooms(rooms) => rooms.iter().any(|r| r == room_id),
    }
}

impl Scopes {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Scopes {
            store,
            known: RwLock::new(HashMap::new()),
        }
    }

    /// The user's scope: `Everywhere` for a person; a bot's read once from the store.
    pub async fn load(&self, user: &User) -> Result<Arc<Scope>> {
        static EVERYWHERE: std::sync::LazyLock<Arc<Scope>> =
            std::sync::LazyLock::new(|| Arc::new(Scope::Everywhere));
        if !user.bot {
            return Ok(EVERYWHERE.clone());
        }
        if let Some(scope) = self.known.read().unwrap().get(&user.id) {
            return Ok(scope.clone());
        }
        let scope = Arc::new(self.store.scope(&user.id).await?);
        let mut known = self.known.write().unwrap();
        Ok(known.entry(user.id.clone()).or_insert(scope).clone())
    }

    /// Whether the user may reach the room at all.
    pub async fn allows(&self, user: &User, room_id: &str) -> Result<bool> {
        Ok(reaches(&*self.load(user).await?, room_id))
    }

    /// Whether the user is limited to chosen rooms.
    pub async fn limited(&self, user: &User) -> Result<bool> {
        Ok(matches!(*self.load(user).await?, Scope::Rooms(_)))
    }

    /// [`Scopes::allows`] from what this node has read: a bot whose scope it has not read is
    /// refused.
    pub fn allows_known(&self, user: &User, room_id: &str) -> bool {
        if !user.bot {
            return true;
        }
        let known = self.known.read().unwrap();
        known
            .get(&user.id)
            .is_some_and(|scope| reaches(scope, room_id))
    }

    /// Forgets a deleted bot's scope (it is read again, as no room, if it is ever asked about).
    pub fn forget(&self, user_id: &str) {
        self.known.write().unwrap().remove(user_id);
    }
}
