//! Messages and the event log: send, edit, delete, move, clear, typing, history, events,
//! long-poll and the socket's replay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bus::EncodedEvent;
use crate::error::{Error, Result};
use crate::protocol::{Message, RawEventPage, RawLive, Rearrange, RemovedReason, User};
use crate::store::{MessagesPage, SendOutcome, SendRequest, StoredEvent};

use super::access::Need;
use super::gather::{answer_each, distinct, failed, Batch};
use super::threads::Threading;
use super::{validate, Admission, Chat, EVENTS_PAGE_MAX, TYPING_INTERVAL};

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

    /// A read of the room's event log, or a long-poll of it (see [`Poll`]): one access check,
    /// then the events after `after` from the room's feed in memory where it holds them (the
    /// frames the sockets got), else from the store. A live poll also answers who is online
    /// and typing, holds the reader's presence in the room, and answers early when that
    /// changes.
    pub async fn poll_events(
        &self,
        user: &User,
        room_id: &str,
        poll: Poll,
        until: impl std::future::Future<Output = ()>,
    ) -> Result<String> {
        self.gate.read(user, room_id).await?;
        let limit = poll.limit.min(EVENTS_PAGE_MAX) as usize;
        if poll.wait.is_zero() && poll.live.is_none() {
            // A gap fill or a plain read: nothing to watch.
            let (events, last_seq, removed) = self
                .stored_page(room_id, poll.after, limit, &user.id)
                .await?;
            let events: Vec<&str> = events.iter().map(|e| e.json.as_str()).collect();
            return Ok(RawEventPage {
                events: &events,
                last_seq,
                live: None,
                removed,
            }
            .encode());
        }
        let room: Arc<str> = Arc::from(room_id);
        let watch = self
            .hub
            .open_poll(&room, poll.live.is_some().then_some(user))
            .await?;
        let mut changes = watch.feed().changes();
        let deadline = tokio::time::Instant::now() + poll.wait;
        let mut until = std::pin::pin!(until);
        let mut stopping = false;
        loop {
            changes.borrow_and_update();
            let (frames, stored, last_seq, removed) =
                match watch.feed().page(poll.after, limit, &user.id) {
                    Some(page) => (page.frames, Vec::new(), page.last_seq, page.removed),
                    None => {
                        let (stored, last_seq, removed) = self
                            .stored_page(room_id, poll.after, limit, &user.id)
                            .await?;
                        (Vec::new(), stored, last_seq, removed)
                    }
                };
            let live = poll
                .live
                .as_deref()
                .map(|seen| self.hub.live_state(&room, &watch, &user.id, seen));
            let news = !frames.is_empty()
                || !stored.is_empty()
                || removed.is_some()
                || matches!((&poll.live, &live), (Some(seen), Some(now)) if *seen != now.token);
            if news || stopping || tokio::time::Instant::now() >= deadline {
                let events: Vec<&str> = frames
                    .iter()
                    .filter_map(|f| crate::hub::event_json(f.as_str()))
                    .chain(stored.iter().map(|e| e.json.as_str()))
                    .collect();
                let live = live.as_ref().map(|l| RawLive {
                    online: l.online.as_deref().map(Vec::as_slice),
                    typing: &l.typing,
                    token: &l.token,
                });
                return Ok(RawEventPage {
                    events: &events,
                    last_seq,
                    live,
                    removed,
                }
                .encode());
            }
            // Wait for a change; a typing notice lapsing is one too.
            let lapse = live
                .and_then(|l| l.lapses)
                .map(tokio::time::Instant::from_std)
                .map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(lapse) => {}
                _ = &mut until => stopping = true,
            }
        }
    }

    /// The events after `after` from the store (at most `limit`, cut after the reader's own
    /// removal), the room's last seq, and the removal if the page ends with it.
    async fn stored_page(
        &self,
        room_id: &str,
        after: u64,
        limit: usize,
        reader: &str,
    ) -> Result<(Vec<StoredEvent>, u64, Option<RemovedReason>)> {
        let last_seq = self.store.last_seq(room_id).await?;
        self.store.get_room(room_id).await?;
        let mut events = self
            .store
            .events_after(room_id, after, limit as u32)
            .await?;
        let cut = events.iter().position(|e| {
            e.effects().ends_room
                || e.effects()
                    .removes
                    .as_ref()
                    .is_some_and(|r| r.user_id == reader)
        });
        let removed = cut.and_then(|i| {
            let removal = events[i].effects().removes.as_ref()?;
            Some(removal.reason)
        });
        if let Some(i) = cut {
            events.truncate(i + 1);
        }
        // Events committed between the two reads: the page's last seq is at least its last.
        let last_seq = events.last().map_or(last_seq, |e| e.seq.max(last_seq));
        Ok((events, last_seq, removed))
    }

    /// The events a subscription replays (`after < seq <= upto`), encoded: the gate admitted
    /// it (`Chat::subscribe`) a moment before, so this reads no more than the events. Replays
    /// that arrive together are read as one (see [`ReplayReads`]).
    pub async fn replay(
        &self,
        admission: &Admission,
        after: u64,
        upto: u64,
    ) -> Result<Arc<[Arc<EncodedEvent>]>> {
        self.replays
            .ask((admission.room_id.clone(), after, upto))
            .await
    }
}

/// Reads the events of many replays at once: when a node dies, thousands of its clients
/// subscribe to the others within seconds, most of them to the same rooms from the same seq.
/// Each distinct range is read and encoded once, and shared by every replay that asked for it.
pub struct ReplayReads(pub(super) Arc<dyn crate::store::Store>);

impl Batch for ReplayReads {
    /// `(room id, after, upto)`.
    type Item = (String, u64, u64);
    type Answer = Arc<[Arc<EncodedEvent>]>;

    async fn run(&self, ranges: Vec<(String, u64, u64)>) -> Vec<Result<Self::Answer>> {
        let unique = distinct(&ranges);
        match self.0.events_in(&unique).await {
            Ok(found) => {
                let encoded: Vec<Self::Answer> = found
                    .iter()
                    .map(|events| events.iter().map(EncodedEvent::new).collect())
                    .collect();
                answer_each(&ranges, &unique, &encoded)
            }
            Err(err) => failed(&err, ranges.len(), "a replay read"),
        }
    }
}

/// What a read of a room's event log asks (`GET …/events`).
pub struct Poll {
    pub after: u64,
    pub limit: u32,
    /// How long to wait for an event (zero: answer at once).
    pub wait: Duration,
    /// A live poll: the token of the online and typing state the reader has (empty: none).
    pub live: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::gather::Gathered;
    use crate::store::sqlite::SqliteStore;
    use crate::store::Store;

    /// Replays of one range that arrive together are read and encoded once and shared; each
    /// other range gets its own events.
    #[tokio::test]
    async fn replays_of_one_range_share_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in(dir.path()).await.unwrap());
        let owner = store.create_user("owner", None, false).await.unwrap();
        let (room, _) = store.create_room("Room", "", &owner).await.unwrap();
        for n in 0..4 {
            store
                .send_message(&room.id, &owner, &format!("c{n}"), "hi")
                .await
                .unwrap();
        }
        let last = store.last_seq(&room.id).await.unwrap();
        let replays = Arc::new(Gathered::new(ReplayReads(store.clone()), 1, 256));
        let asks: Vec<_> = [(0, last), (1, last), (0, last), (last, last)]
            .into_iter()
            .map(|(after, upto)| {
                let (replays, room) = (replays.clone(), room.id.clone());
                tokio::spawn(async move { replays.ask((room, after, upto)).await })
            })
            .collect();
        let mut answers = Vec::new();
        for ask in asks {
            answers.push(ask.await.unwrap().unwrap());
        }
        let seqs = |events: &[Arc<EncodedEvent>]| events.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&answers[0]), (1..=last).collect::<Vec<_>>());
        assert_eq!(seqs(&answers[1]), (2..=last).collect::<Vec<_>>());
        assert!(answers[3].is_empty());
        assert!(
            Arc::ptr_eq(&answers[0], &answers[2]),
            "one range asked twice is read and encoded once"
        );
        assert_eq!(replays.batches(), 1, "four replays, one read");
    }
}
