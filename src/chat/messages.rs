//! Messages and the event log: send, edit, delete, move, clear, typing, history, events,
//! long-poll and the socket's replay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::protocol::{Event, Message, Rearrange, User};
use crate::store::{MessagesPage, SendOutcome, SendRequest, StoredEvent};

use super::access::Need;
use super::threads::Threading;
use super::{validate, Chat, EVENTS_PAGE_MAX, TYPING_INTERVAL};

impl Chat {
    /// Stores and publishes a message; `(message, true)` when new, `(original, false)` for a retry.
    pub async fn send(
        self: &Arc<Self>,
        user: &User,
        room_id: &str,
        client_id: &str,
        body: &str,
    ) -> Result<(Message, bool)> {
        self.begin_send(user, room_id, client_id, body).await?.await
    }

    /// [`Chat::send`] of a reply or a thread reply (see [`Chat::begin_send_in`]).
    pub async fn send_in(
        self: &Arc<Self>,
        user: &User,
        room_id: &str,
        client_id: &str,
        body: &str,
        threading: Threading,
        attachments: Vec<String>,
    ) -> Result<(Message, bool)> {
        self.begin_send_in(user, room_id, client_id, body, threading, attachments)
            .await?
            .await
    }

    /// Checks a send and hands it to the store; the future it answers resolves once the send is
    /// committed and published. Sends begun one after another are stored in that order even
    /// when their futures are awaited later, so a connection can keep several in flight. (With
    /// a policy that needs no lookup to allow posting, as today's, this never waits.)
    pub async fn begin_send(
        self: &Arc<Self>,
        user: &User,
        room_id: &str,
        client_id: &str,
        body: &str,
    ) -> Result<impl std::future::Future<Output = Result<(Message, bool)>> + Send + 'static> {
        self.begin_send_in(
            user,
            room_id,
            client_id,
            body,
            Threading::default(),
            Vec::new(),
        )
        .await
    }

    /// [`Chat::begin_send`] of a reply or a thread reply (issue #10), and of a message that
    /// carries files (#12). The store checks, in the send's transaction, that what `threading`
    /// names is a live message of the room. `attachments` are ids of the sender's own uploads, at
    /// most [`super::files::MAX_ATTACHMENTS`]; with files, the body (a caption) may be empty.
    pub async fn begin_send_in(
        self: &Arc<Self>,
        user: &User,
        room_id: &str,
        client_id: &str,
        body: &str,
        threading: Threading,
        attachments: Vec<String>,
    ) -> Result<impl std::future::Future<Output = Result<(Message, bool)>> + Send + 'static> {
        self.gate
            .require(user, room_id, Need::Post, "you can't post in this room")
            .await?;
        let client_id = validate::client_id(client_id)?;
        self.check_attachments(&attachments)?;
        let body = if attachments.is_empty() || !body.trim().is_empty() {
            validate::body(body)?
        } else {
            ""
        };
        let threading = threading.checked()?;
        self.limits.message(&user.id)?;
        let mentions = self.mentions(user, room_id, body).await?;
        let start = Instant::now();
        let ticket = self.store.submit_send(SendRequest {
            room_id: room_id.to_string(),
            author: user.clone(),
            client_id: client_id.to_string(),
            body: body.to_string(),
            reply_to: threading.reply_to,
            thread_id: threading.thread_id,
            mentions,
            attachments,
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
                    chat.notify_later(message.clone(), message.mentions.clone(), true);
                    Ok((message, true))
                }
                SendOutcome::Existing(message) => Ok((message, false)),
            }
        })
    }

    pub async fn edit(
        self: &Arc<Self>,
        user: &User,
        room_id: &str,
        message_id: &str,
        body: &str,
    ) -> Result<Message> {
        self.gate
            .require(user, room_id, Need::Post, "you can't post in this room")
            .await?;
        let body = validate::body(body)?;
        let message = self.store.get_message(room_id, message_id).await?;
        if message.author.id != user.id {
            return Err(Error::Forbidden("only the author can edit a message"));
        }
        self.limits.message(&user.id)?;
        let mentions = self.mentions(user, room_id, body).await?;
        let newly: Vec<String> = mentions
            .iter()
            .filter(|id| !message.mentions.contains(id))
            .cloned()
            .collect();
        let edit = self
            .store
            .edit_message(room_id, message_id, body, &mentions);
        let (message, event) = self.timed("edit", edit).await?;
        self.publish(std::slice::from_ref(&event));
        if !newly.is_empty() {
            self.notify_later(message.clone(), newly, false);
        }
        Ok(message)
    }

    pub async fn delete_message(&self, user: &User, room_id: &str, message_id: &str) -> Result<()> {
        self.gate
            .require(user, room_id, Need::Post, "you can't post in this room")
            .await?;
        let message = self.store.get_message(room_id, message_id).await?;
        let own = message.author.id == user.id;
        if !own {
            self.gate
                .require(
                    user,
                    room_id,
                    Need::Moderate,
                    "only the author or the room's moderators can delete a message",
                )
                .await?;
        }
        self.limits.message(&user.id)?;
        let event = if own {
            let delete = self.store.delete_message(room_id, message_id);
            self.timed("delete", delete).await?
        } else {
            // A moderator's deletion of someone else's message is audited.
            let delete = self.store.moderator_delete(room_id, message_id, user);
            self.timed("delete", delete).await?
        };
        self.publish(std::slice::from_ref(&event));
        // Files (#12): the message's files are gone; their blobs too unless shared.
        self.empty_trash().await;
        Ok(())
    }

    pub async fn move_message(
        &self,
        user: &User,
        room_id: &str,
        message_id: &str,
        after: Option<&str>,
    ) -> Result<Message> {
        self.gate
            .require(user, room_id, Need::Post, "you can't post in this room")
            .await?;
        let room = self.store.get_room(room_id).await?;
        match room.rearrange {
            Rearrange::Anyone => {}
            Rearrange::Moderators => {
                self.gate
                    .require(
                        user,
                        room_id,
                        Need::Moderate,
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
            .timed(
                "move",
                self.store.move_message(room_id, message_id, after, user),
            )
            .await?;
        self.publish(&events);
        Ok(message)
    }

    pub async fn clear(&self, user: &User, room_id: &str) -> Result<()> {
        self.gate
            .require(
                user,
                room_id,
                Need::Moderate,
                "only the room's owner or an admin can clear it",
            )
            .await?;
        self.limits.room_change(&user.id)?;
        let event = self
            .timed("clear", self.store.clear_room(room_id, user))
            .await?;
        self.publish(std::slice::from_ref(&event));
        // Files (#12): the room's files are gone; their blobs too unless shared.
        self.empty_trash().await;
        Ok(())
    }

    /// Relays a typing notice to the room's other subscribers, at most one per user and room
    /// every [`TYPING_INTERVAL`]. Never stored.
    pub async fn typing(&self, user: &User, room_id: &str) -> Result<()> {
        self.gate
            .require(user, room_id, Need::Post, "you can't post in this room")
            .await?;
        let now = Instant::now();
        {
            let mut last = self.typing.lock().unwrap();
            let key = (room_id.to_string(), user.id.clone());
            if last
                .get(&key)
                .is_some_and(|at| now.duration_since(*at) < TYPING_INTERVAL)
            {
                return Ok(());
            }
            if last.len() > 10_000 {
                last.retain(|_, at| now.duration_since(*at) < TYPING_INTERVAL);
            }
            last.insert(key, now);
        }
        self.hub.typing(room_id, user);
        Ok(())
    }

    /// A page of the room's messages in display order, just before `before` or the last one.
    pub async fn messages(
        &self,
        user: &User,
        room_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage> {
        self.gate.read(user, room_id).await?;
        self.store.messages_before(room_id, before, limit).await
    }

    /// A window of the room's messages in display order around `message_id` (a thread reply:
    /// around its thread's first message), for opening a message in its context.
    pub async fn messages_around(
        &self,
        user: &User,
        room_id: &str,
        message_id: &str,
        limit: u32,
    ) -> Result<MessagesPage> {
        self.gate.read(user, room_id).await?;
        if !super::threads::shaped_id(message_id) {
            return Err(Error::MessageNotFound);
        }
        self.store.messages_around(room_id, message_id, limit).await
    }

    /// The page of the room's messages just after `after` (a position), in display order.
    pub async fn messages_after(
        &self,
        user: &User,
        room_id: &str,
        after: &str,
        limit: u32,
    ) -> Result<MessagesPage> {
        self.gate.read(user, room_id).await?;
        // Positions are short printable keys (src/store/position.rs); anything else is no place
        // in the room, and never reaches the store.
        if after.is_empty() || after.len() > 256 || !after.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidRequest(
                "after is not a position this server gave out".into(),
            ));
        }
        self.store.messages_after(room_id, after, limit).await
    }

    /// Events after `after` (at most `limit`) and the room's last seq.
    pub async fn events(
        &self,
        user: &User,
        room_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<(Vec<Event>, u64)> {
        self.gate.read(user, room_id).await?;
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

    /// A long-poll: the events after `after` once there are any, `wait` has passed, or `until`
    /// resolves (the server shuts down), whichever comes first.
    pub async fn wait_for_events(
        &self,
        user: &User,
        room_id: &str,
        after: u64,
        limit: u32,
        wait: Duration,
        until: impl std::future::Future<Output = ()>,
    ) -> Result<(Vec<Event>, u64)> {
        let (events, last_seq) = self.events(user, room_id, after, limit).await?;
        if !events.is_empty() || wait.is_zero() {
            return Ok((events, last_seq));
        }
        let room: Arc<str> = Arc::from(room_id);
        let mut seq = self.hub.watch_seq(&room).await?;
        // Unwatched however the wait ends, also when the client goes away mid-wait and the
        // request's future is dropped here (the hub would otherwise keep the room's entry and
        // its poller count for ever).
        let _watching = Unwatch {
            hub: &self.hub,
            room: &room,
        };
        tokio::select! {
            _ = seq.wait_for(|last| *last > after) => {}
            _ = tokio::time::sleep(wait) => {}
            _ = until => {}
        }
        drop(_watching);
        self.events(user, room_id, after, limit).await
    }

    /// The events a subscription replays (`seq > after`, at most `limit`), for a caller who
    /// may read the room.
    pub async fn replay(
        &self,
        user: &User,
        room_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        self.gate.read(user, room_id).await?;
        self.store.events_after(room_id, after, limit).await
    }
}

/// A long-poll's watch of a room, ended when dropped.
struct Unwatch<'a> {
    hub: &'a crate::hub::Hub,
    room: &'a Arc<str>,
}

impl Drop for Unwatch<'_> {
    fn drop(&mut self) {
        self.hub.unwatch_seq(self.room);
    }
}
