//! The rules of Palaver: validation, who may do what, and publishing what was committed.
//!
//! Every change goes the same way: check the input and the caller's rights, commit through the
//! store (which appends the events with their `seq`), then publish the committed events on the
//! bus. Both the REST handlers and the socket call these methods, so the two behave alike.

pub mod limits;
pub mod names;
pub mod validate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::auth;
use crate::bus::Bus;
use crate::error::{Error, Result};
use crate::hub::{EncodedEvent, Hub};
use crate::metrics::Metrics;
use crate::protocol::{
    Event, Member, Message, Rearrange, Role, Room, RoomListChange, ServerFrame, User,
};
use crate::store::{MessagesPage, RoomPatch, SendOutcome, SendRequest, Store, StoredEvent};

/// The rooms every new Palaver starts with.
pub const DEFAULT_ROOMS: &[&str] = &["General", "Random", "Tech Talk"];

/// Most events one `events?after=` page returns.
pub const EVENTS_PAGE_MAX: u32 = 1000;

/// Least time between two relayed typing notices of one user in one room.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(2);

pub struct Chat {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub hub: Arc<Hub>,
    pub allow_guests: bool,
    pub limits: limits::Limits,
    pub metrics: Arc<Metrics>,
    /// When each (room, user) last had a typing notice relayed.
    typing: Mutex<HashMap<(String, String), Instant>>,
    /// The store publishes committed sends itself (see [`Store::publish_sends`]).
    store_publishes: bool,
}

/// Publishes committed events to every node, in order, and marks the rooms whose member
/// counts they change.
fn publish(hub: &Hub, bus: &dyn Bus, events: &[StoredEvent]) {
    for stored in events {
        if stored.json.contains(r#""kind":"member."#) {
            hub.mark_counts(&stored.room_id);
        }
        bus.publish(EncodedEvent::new(stored));
    }
}

/// A signed-in session: the user and the token that was issued.
pub struct Session {
    pub user: User,
    pub token: String,
}

impl Chat {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        hub: Arc<Hub>,
        allow_guests: bool,
        limits: limits::Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        let publisher = {
            let (bus, hub) = (bus.clone(), Arc::downgrade(&hub));
            Arc::new(move |events: &[StoredEvent]| {
                if let Some(hub) = hub.upgrade() {
                    publish(&hub, bus.as_ref(), events);
                }
            })
        };
        let store_publishes = store.publish_sends(publisher);
        Chat {
            store,
            bus,
            hub,
            allow_guests,
            limits,
            metrics,
            typing: Mutex::new(HashMap::new()),
            store_publishes,
        }
    }

    /// Runs one store write, recording its latency under `op`.
    async fn timed<T>(
        &self,
        op: &str,
        write: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        let result = write.await;
        self.metrics
            .store_seconds
            .with_label_values(&[op])
            .observe(start.elapsed().as_secs_f64());
        result
    }

    /// Publishes committed events to every node, in order.
    pub fn publish(&self, events: &[StoredEvent]) {
        publish(&self.hub, self.bus.as_ref(), events);
    }

    /// Sends a `room_list` update for every room whose counts changed since the last call.
    /// The flusher calls it once a second, which is what coalesces count updates.
    pub async fn flush_room_list(&self) {
        for room_id in self.hub.take_counts_dirty() {
            match self.store.get_room(&room_id).await {
                Ok(room) => self.room_list(RoomListChange::Updated, room),
                Err(Error::RoomNotFound) => {}
                Err(err) => err.log_if_internal(),
            }
        }
    }

    fn room_list(&self, change: RoomListChange, mut room: Room) {
        room.online_count = self.hub.online_count(&room.id);
        let frame = ServerFrame::RoomList { change, room };
        self.hub.broadcast_all(Utf8Bytes::from(frame.encode()));
    }

    // Accounts.

    pub async fn register(&self, username: &str, password: &str) -> Result<Session> {
        let username = validate::username(username)?;
        let password = validate::password(password, username)?;
        names::username_free(self.store.as_ref(), username, false).await?;
        let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
            .await
            .map_err(|err| Error::Internal(err.into()))??;
        let user = self.store.create_user(username, Some(&hash), false).await?;
        self.start_session(user).await
    }

    /// Checks a password. Limited per username and per address (failed attempts count; see
    /// [`limits`]). An unknown name or a guest costs the same argon2 work as a wrong password,
    /// so the answer's timing does not tell which names exist.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: std::net::IpAddr,
    ) -> Result<Session> {
        let attempt = self.limits.login(username, address)?;
        if validate::username(username).is_err() {
            // No account can have this name: a failed attempt, without asking the store.
            return Err(Error::InvalidCredentials);
        }
        let record = self.store.find_user_by_name(username).await?;
        let (user, hash) = match record {
            Some(record) => match record.password_hash {
                Some(hash) => (Some(record.user), hash),
                None => (None, auth::decoy_hash().to_string()),
            },
            None => (None, auth::decoy_hash().to_string()),
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || auth::verify_typed_password(&hash, &password))
            .await
            .map_err(|err| Error::Internal(err.into()))?;
        match user {
            Some(user) if ok => {
                self.limits.login_succeeded(attempt);
                self.start_session(user).await
            }
            _ => Err(Error::InvalidCredentials),
        }
    }

    pub async fn guest(&self, username: &str) -> Result<Session> {
        if !self.allow_guests {
            return Err(Error::GuestsDisabled);
        }
        let username = validate::username(username)?;
        names::username_free(self.store.as_ref(), username, true).await?;
        let user = self.store.create_user(username, None, true).await?;
        self.start_session(user).await
    }

    /// A fresh token (never one the client brought), valid for the session lifetime.
    async fn start_session(&self, user: User) -> Result<Session> {
        let token = auth::new_token();
        let ttl = chrono::Duration::from_std(self.limits.session_ttl)
            .unwrap_or(chrono::Duration::MAX)
            .min(chrono::Duration::days(365 * 100));
        let expires_at = crate::store::timestamp(chrono::Utc::now() + ttl);
        self.store
            .create_session_until(&auth::token_hash(&token), &user.id, &expires_at)
            .await?;
        Ok(Session { user, token })
    }

    /// Revokes the session everywhere: REST at once, and its open sockets are closed.
    pub async fn logout(&self, token_hash: &str) -> Result<()> {
        self.store.delete_session(token_hash).await?;
        self.hub.revoke_session(token_hash);
        Ok(())
    }

    // Rooms.

    fn with_presence(&self, mut room: Room) -> Room {
        room.online_count = self.hub.online_count(&room.id);
        room
    }

    pub async fn list_rooms(&self) -> Result<Vec<Room>> {
        let rooms = self.store.list_rooms().await?;
        Ok(rooms.into_iter().map(|r| self.with_presence(r)).collect())
    }

    pub async fn get_room(&self, room_id: &str) -> Result<Room> {
        Ok(self.with_presence(self.store.get_room(room_id).await?))
    }

    pub async fn create_room(&self, user: &User, name: &str, topic: Option<&str>) -> Result<Room> {
        let name = validate::room_name(name)?;
        names::room_name_free(self.store.as_ref(), &name, None).await?;
        let topic = validate::topic(topic.unwrap_or(""))?;
        let max = self.limits.max_rooms_per_user;
        let owned = self
            .store
            .list_rooms()
            .await?
            .iter()
            .filter(|r| r.owner_id.as_deref() == Some(user.id.as_str()))
            .count();
        if owned >= max {
            return Err(Error::TooManyRooms { max });
        }
        let (room, events) = self.store.create_room(&name, topic, user).await?;
        self.publish(&events);
        self.room_list(RoomListChange::Created, room.clone());
        Ok(self.with_presence(room))
    }

    async fn require_role(
        &self,
        room_id: &str,
        user: &User,
        allowed: &[Role],
        what: &'static str,
    ) -> Result<Role> {
        let room = self.store.get_room(room_id).await?;
        let role = if room.owner_id.as_deref() == Some(user.id.as_str()) {
            Some(Role::Owner)
        } else {
            self.store.role(room_id, &user.id).await?
        };
        match role {
            Some(role) if allowed.contains(&role) => Ok(role),
            _ => Err(Error::Forbidden(what)),
        }
    }

    pub async fn update_room(
        &self,
        user: &User,
        room_id: &str,
        name: Option<&str>,
        topic: Option<&str>,
        rearrange: Option<&str>,
    ) -> Result<Room> {
        let patch = RoomPatch {
            name: name.map(validate::room_name).transpose()?,
            topic: topic.map(validate::topic).transpose()?.map(str::to_string),
            rearrange: rearrange
                .map(|r| {
                    Rearrange::parse(r).ok_or_else(|| {
                        Error::InvalidRequest(
                            "rearrange is one of anyone, moderators, nobody".into(),
                        )
                    })
                })
                .transpose()?,
        };
        self.require_role(
            room_id,
            user,
            &[Role::Owner, Role::Admin],
            "only the room's owner or an admin can change it",
        )
        .await?;
        if let Some(name) = &patch.name {
            names::room_name_free(self.store.as_ref(), name, Some(room_id)).await?;
        }
        let (room, event) = self.store.update_room(room_id, &patch).await?;
        self.publish(std::slice::from_ref(&event));
        self.room_list(RoomListChange::Updated, room.clone());
        Ok(self.with_presence(room))
    }

    pub async fn delete_room(&self, user: &User, room_id: &str) -> Result<()> {
        let room = self.store.get_room(room_id).await?;
        if room.owner_id.as_deref() != Some(user.id.as_str()) {
            return Err(Error::Forbidden("only the room's owner can delete it"));
        }
        let event = self.store.delete_room(room_id).await?;
        self.publish(std::slice::from_ref(&event));
        self.room_list(RoomListChange::Deleted, room);
        Ok(())
    }

    pub async fn join(&self, user: &User, room_id: &str) -> Result<Room> {
        if let Some(event) = self.store.join_room(room_id, user).await? {
            self.publish(std::slice::from_ref(&event));
        }
        self.get_room(room_id).await
    }

    pub async fn leave(&self, user: &User, room_id: &str) -> Result<()> {
        if let Some(event) = self.store.leave_room(room_id, user).await? {
            self.publish(std::slice::from_ref(&event));
        }
        Ok(())
    }

    pub async fn members(&self, room_id: &str) -> Result<Vec<Member>> {
        let members = self.store.members(room_id).await?;
        Ok(members
            .into_iter()
            .map(|(user, role)| Member {
                online: self.hub.is_online(room_id, &user.id),
                user,
                role,
            })
            .collect())
    }

    // Messages.

    /// Stores and publishes a message; `(message, true)` when new, `(original, false)` for a retry.
    pub async fn send(
        self: &Arc<Self>,
        user: &User,
        room_id: &str,
        client_id: &str,
        body: &str,
    ) -> Result<(Message, bool)> {
        self.begin_send(user, room_id, client_id, body)?.await
    }

    /// Checks a send and hands it to the store now; the future answers once it is committed and
    /// published. Sends begun one after another are stored in that order even when their
    /// futures are awaited later, so a connection can keep several in flight.
    pub fn begin_send(
        self: &Arc<Self>,
        user: &User,
        room_id: &str,
        client_id: &str,
        body: &str,
    ) -> Result<impl std::future::Future<Output = Result<(Message, bool)>> + Send + 'static> {
        let client_id = validate::client_id(client_id)?;
        let body = validate::body(body)?;
        self.limits.message(&user.id)?;
        let start = Instant::now();
        let ticket = self.store.submit_send(SendRequest {
            room_id: room_id.to_string(),
            author: user.clone(),
            client_id: client_id.to_string(),
            body: body.to_string(),
        });
        let chat = self.clone();
        Ok(async move {
            let outcome = ticket.await;
            chat.metrics
                .store_seconds
                .with_label_values(&["send"])
                .observe(start.elapsed().as_secs_f64());
            match outcome? {
                SendOutcome::Created { message, events } => {
                    chat.metrics.messages_sent.inc();
                    if !chat.store_publishes {
                        chat.publish(&events);
                    }
                    Ok((message, true))
                }
                SendOutcome::Existing(message) => Ok((message, false)),
            }
        })
    }

    pub async fn edit(
        &self,
        user: &User,
        room_id: &str,
        message_id: &str,
        body: &str,
    ) -> Result<Message> {
        let body = validate::body(body)?;
        let message = self.store.get_message(room_id, message_id).await?;
        if message.author.id != user.id {
            return Err(Error::Forbidden("only the author can edit a message"));
        }
        self.limits.message(&user.id)?;
        let (message, event) = self
            .timed("edit", self.store.edit_message(room_id, message_id, body))
            .await?;
        self.publish(std::slice::from_ref(&event));
        Ok(message)
    }

    pub async fn delete_message(&self, user: &User, room_id: &str, message_id: &str) -> Result<()> {
        let message = self.store.get_message(room_id, message_id).await?;
        if message.author.id != user.id {
            self.require_role(
                room_id,
                user,
                &[Role::Owner, Role::Admin],
                "only the author, the room's owner or an admin can delete a message",
            )
            .await?;
        }
        self.limits.message(&user.id)?;
        let event = self
            .timed("delete", self.store.delete_message(room_id, message_id))
            .await?;
        self.publish(std::slice::from_ref(&event));
        Ok(())
    }

    pub async fn move_message(
        &self,
        user: &User,
        room_id: &str,
        message_id: &str,
        after: Option<&str>,
    ) -> Result<Message> {
        let room = self.store.get_room(room_id).await?;
        match room.rearrange {
            Rearrange::Anyone => {}
            Rearrange::Moderators => {
                self.require_role(
                    room_id,
                    user,
                    &[Role::Owner, Role::Admin],
                    "only moderators can rearrange this room",
                )
                .await?;
            }
            Rearrange::Nobody => {
                return Err(Error::Forbidden("rearranging is switched off in this room"))
            }
        }
        self.limits.message(&user.id)?;
        let (message, events) = self
            .timed("move", self.store.move_message(room_id, message_id, after))
            .await?;
        self.publish(&events);
        Ok(message)
    }

    pub async fn clear(&self, user: &User, room_id: &str) -> Result<()> {
        self.require_role(
            room_id,
            user,
            &[Role::Owner, Role::Admin],
            "only the room's owner or an admin can clear it",
        )
        .await?;
        let event = self
            .timed("clear", self.store.clear_room(room_id, user))
            .await?;
        self.publish(std::slice::from_ref(&event));
        Ok(())
    }

    /// Relays a typing notice to the room's other subscribers, at most one per user and room
    /// every [`TYPING_INTERVAL`]. Never stored.
    pub async fn typing(&self, user: &User, room_id: &str) {
        let now = Instant::now();
        {
            let mut last = self.typing.lock().unwrap();
            let key = (room_id.to_string(), user.id.clone());
            if last
                .get(&key)
                .is_some_and(|at| now.duration_since(*at) < TYPING_INTERVAL)
            {
                return;
            }
            if last.len() > 10_000 {
                last.retain(|_, at| now.duration_since(*at) < TYPING_INTERVAL);
            }
            last.insert(key, now);
        }
        self.hub.typing(room_id, user);
    }

    pub async fn messages(
        &self,
        room_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage> {
        self.store.messages_before(room_id, before, limit).await
    }

    /// Events after `after` (at most `limit`) and the room's last seq.
    pub async fn events(&self, room_id: &str, after: u64, limit: u32) -> Result<(Vec<Event>, u64)> {
        let last_seq = self.store.last_seq(room_id).await?;
        self.store.get_room(room_id).await?;
        let events = self
            .store
            .events_after(room_id, after, limit.min(EVENTS_PAGE_MAX))
            .await?;
        let events = events
            .iter()
            .map(StoredEvent::decode)
            .collect::<Result<Vec<_>>>()?;
        Ok((events, last_seq))
    }
}
