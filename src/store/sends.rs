//! The send procedure: idempotent by `(author, client_id)`, joining the author to the room if
//! needed, the message after the room's last one. Written once for a group of sends, which
//! SQLite's group commit hands it many at a time (see [`super::sqlite::commit`]) and each of
//! PostgreSQL's lanes one at a time, under the room's lock (see [`super::postgres`]).
//!
//! A group costs a handful of statements whatever its size: one lookup of earlier sends with the
//! same `client_id`s, one read that locks the rooms and finds their memberships, then the writes
//! (one multi-row insert each for new members, messages and events, one update of every touched
//! room's `last_seq`), which PostgreSQL takes as one statement (see [`Writes`]). A plain lone send
//! to PostgreSQL is five round trips: begin, the lookup, the read, the writes, commit. A reply
//! adds one (the message it names), each file one, and a read that waited for a writer one or
//! two (see [`group_rooms`]); a retry found by the lookup takes no lock.

use std::collections::{HashMap, HashSet};

use tokio::sync::{mpsc, oneshot};

use super::dialect::{sql, Arg, Conn, DbError, RowsSql, Writes};
use super::file_rows as files;
use super::rows::{self, message_columns};
use super::{failed_ticket, now, position, ticket, PublishSlot, Publisher, SendOutcome};
use super::{SendRequest, SendTicket, StoredEvent};
use crate::error::Error;
use crate::protocol::{EventKind, FileInfo, Message, ThreadSummary};

/// A send waiting to be stored.
pub(crate) struct SendJob {
    pub request: SendRequest,
    pub reply: oneshot::Sender<crate::error::Result<SendOutcome>>,
}

/// Where a store's sends queue: in lanes, one task or thread each (SQLite: one, its group
/// commit; PostgreSQL: several), a room always in the same lane. A lane stores its sends one
/// after another, so sends submitted in order are stored in order, while sends to rooms in
/// different lanes commit side by side. Each lane publishes every committed send (see
/// [`super::MessageStore::publish_sends`]) before it answers it.
pub(crate) struct SendQueue {
    lanes: Vec<mpsc::UnboundedSender<SendJob>>,
    publish: PublishSlot,
}

impl SendQueue {
    /// `lanes` lanes, each started by `start` with its jobs and where to publish.
    pub fn start(
        lanes: usize,
        mut start: impl FnMut(mpsc::UnboundedReceiver<SendJob>, PublishSlot) -> std::io::Result<()>,
    ) -> std::io::Result<SendQueue> {
        let publish = PublishSlot::default();
        let lanes = (0..lanes.max(1))
            .map(|_| {
                let (lane, jobs) = mpsc::unbounded_channel();
                start(jobs, publish.clone()).map(|()| lane)
            })
            .collect::<std::io::Result<_>>()?;
        Ok(SendQueue { lanes, publish })
    }

    pub fn submit(&self, request: SendRequest) -> SendTicket {
        let (reply, answer) = oneshot::channel();
        let lane = match self.lanes.len() {
            1 => 0,
            lanes => lane_of(&request.room_id, lanes),
        };
        // Unbounded, so that taking the job never waits and jobs queue in call order. What
        // bounds it is upstream: each connection's sends in flight, and the per-user rate limit.
        if self.lanes[lane].send(SendJob { request, reply }).is_err() {
            return failed_ticket(Error::Unavailable(anyhow::anyhow!("the store is closed")));
        }
        ticket(answer)
    }

    pub fn publish_sends(&self, publish: Publisher) -> bool {
        self.publish.install(publish)
    }
}

/// Waits for a lane's next job, then takes every job already waiting behind it, up to `max`
/// in all, into `group` (empty on entry): under load a group grows by itself, and an idle lane
/// answers a lone send at once. `false` once every sender of the lane is gone.
pub(crate) async fn next_group(
    jobs: &mut mpsc::UnboundedReceiver<SendJob>,
    group: &mut Vec<SendJob>,
    max: usize,
) -> bool {
    let Some(job) = jobs.recv().await else {
        return false;
    };
    group.push(job);
    while group.len() < max {
        match jobs.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    true
}

fn lane_of(room_id: &str, lanes: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(room_id, &mut hasher);
    (std::hash::Hasher::finish(&hasher) % lanes as u64) as usize
}

/// Rows per multi-row statement: bound values stay far below SQLite's limit of 32,766.
pub const CHUNK: usize = 1_000;

static EARLIER: RowsSql = RowsSql::new(
    sql!("SELECT " message_columns!() " FROM (VALUES "),
    2,
    sql!(
        ") AS k JOIN messages m ON m.author_id = k.column1 AND m.client_id = k.column2 \
         JOIN users u ON u.id = m.author_id"
    ),
);
/// Each of the group's `(room, author)` pairs whose room is live: the room's last seq, its last
/// message's position, its event log's last seq (see [`group_rooms`]) and whether the author is a
/// member, the rooms locked in id order (PostgreSQL; SQLite has one writer).
static ROOMS: RowsSql = RowsSql::new(
    sql!(
        "SELECT r.id, k.column2, r.last_seq, (SELECT MAX(m.position) FROM messages m \
         WHERE m.room_id = r.id AND m.deleted = " FALSE "), \
         (SELECT COALESCE(MAX(e.seq), 0) FROM events e WHERE e.room_id = r.id), \
         EXISTS (SELECT 1 FROM members mb WHERE mb.room_id = r.id AND mb.user_id = k.column2) \
         FROM (VALUES "
    ),
    2,
    sql!(
        ") AS k JOIN rooms r ON r.id = k.column1 AND r.deleted = " FALSE " ORDER BY r.id"
        FOR_NO_KEY_UPDATE_OF "r"
    ),
);
static INSERT_MEMBERS: RowsSql = RowsSql::new(
    sql!("INSERT INTO members (room_id, user_id, role, joined_at) VALUES "),
    4,
    sql!(""),
);
static INSERT_MESSAGES: RowsSql = RowsSql::new(
    sql!(
        "INSERT INTO messages (id, room_id, seq, author_id, client_id, body, position, \
         created_at, reply_to, thread_id, mentions, attachments) VALUES "
    ),
    12,
    sql!(""),
);
/// The live messages the group's replies and thread replies name (issue #10).
static REFERENCED: RowsSql = RowsSql::new(
    sql!(
        "SELECT m.id, m.room_id, m.thread_id, COALESCE(r.reply_count, m.reply_count) \
         FROM messages m LEFT JOIN messages r ON r.id = m.thread_id \
         WHERE m.deleted = " FALSE " AND m.id IN ("
    ),
    1,
    sql!(")"),
);
static SET_THREADS: RowsSql = RowsSql::new(
    sql!("UPDATE messages SET reply_count = k.column2, last_reply_at = k.column3 FROM (VALUES "),
    3,
    sql!(") AS k WHERE messages.id = k.column1"),
);

/// A live message a send of the group names as `reply_to` or `thread_id`.
struct Referenced {
    room_id: String,
    thread_id: Option<String>,
    /// The reply count of the thread it leads to (its own, or its first message's).
    thread_count: i64,
}
static INSERT_EVENTS: RowsSql = RowsSql::new(
    sql!("INSERT INTO events (room_id, seq, message_id, payload) VALUES "),
    4,
    sql!(""),
);
static SET_LAST_SEQ: RowsSql = RowsSql::new(
    sql!("UPDATE rooms SET last_seq = k.column2 FROM (VALUES "),
    2,
    sql!(") AS k WHERE rooms.id = k.column1"),
);

/// A room as the group found it, and what the group did to it.
struct GroupRoom {
    /// The seq the group's first event here takes (so: whether it took any).
    first_seq: u64,
    next_seq: u64,
    last_position: Option<String>,
    members: HashSet<String>,
}

type Outcomes = Vec<crate::error::Result<SendOutcome>>;

/// Stores a group of sends in the open transaction, in order. A send to a missing room fails
/// alone, writing nothing; a statement that fails fails the whole group (the caller's
/// transaction rolls back), a unique index's refusal marked as such.
pub async fn store_group<C: Conn>(
    conn: &mut C,
    requests: &[&SendRequest],
) -> Result<Outcomes, DbError> {
    let mut earlier = earlier_sends(conn, requests).await?;
    let key_of = |r: &SendRequest| (r.author.id.clone(), r.client_id.clone());
    if requests.iter().all(|r| earlier.contains_key(&key_of(r))) {
        // Retries only: answered from the log, no room locked.
        return Ok(requests
            .iter()
            .map(|r| Ok(SendOutcome::Existing(earlier[&key_of(r)].clone())))
            .collect());
    }
    let (mut rooms, waited) = group_rooms(conn, requests).await?;
    if waited {
        // The writer the read waited for may have been the original of a retry in the group
        // (on another node): look again, now that it has committed.
        earlier = earlier_sends(conn, requests).await?;
    }
    let referenced = referenced(conn, requests).await?;
    // Each thread the group replies in: its first message's new reply count.
    let mut threads: HashMap<String, i64> = HashMap::new();
    let at = now();
    let mut joined: Vec<(&str, &str)> = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    let mut events: Vec<(StoredEvent, Option<String>)> = Vec::new();
    let mut outcomes = Vec::with_capacity(requests.len());
    // Files (#12): the files each new message carries, and those the group has taken.
    let mut attached: Vec<(String, String, &[String])> = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    for request in requests {
        let key = key_of(request);
        if let Some(message) = earlier.get(&key) {
            outcomes.push(Ok(SendOutcome::Existing(message.clone())));
            continue;
        }
        let Some(room) = rooms.get_mut(request.room_id.as_str()) else {
            outcomes.push(Err(Error::RoomNotFound));
            continue;
        };
        // A reply names a live message of the same room; a thread reply's thread is its
        // first message's (a reply's thread is its root's).
        let in_room = |id: &String| referenced.get(id).filter(|r| r.room_id == request.room_id);
        if request
            .reply_to
            .as_ref()
            .is_some_and(|id| in_room(id).is_none())
        {
            outcomes.push(Err(Error::MessageNotFound));
            continue;
        }
        let thread_root = match &request.thread_id {
            Some(id) => match in_room(id) {
                Some(found) => Some((
                    found.thread_id.clone().unwrap_or_else(|| id.clone()),
                    found.thread_count,
                )),
                None => {
                    outcomes.push(Err(Error::MessageNotFound));
                    continue;
                }
            },
            None => None,
        };
        let files = match attachable(conn, request, &taken).await? {
            Ok(files) => files,
            Err(err) => {
                outcomes.push(Err(err));
                continue;
            }
        };
        let mut created = Vec::with_capacity(2);
        if room.members.insert(request.author.id.clone()) {
            joined.push((&request.room_id, &request.author.id));
            let kind = EventKind::MemberJoined {
                user: request.author.clone(),
            };
            let event = rows::event(&request.room_id, room.next_seq, at.clone(), kind);
            let event = StoredEvent::new(&event);
            room.next_seq += 1;
            events.push((event.clone(), None));
            created.push(event);
        }
        let key_after = position::after(room.last_position.as_deref());
        let mut message = rows::new_message(request, room.next_seq, key_after, &at);
        if !files.is_empty() {
            taken.extend(request.attachments.iter().cloned());
            attached.push((
                message.id.clone(),
                request.room_id.clone(),
                &request.attachments,
            ));
            message.attachments = files;
        }
        room.next_seq += 1;
        room.last_position = Some(message.position.clone());
        let thread = thread_root.map(|(root, stored_count)| {
            let count = threads.entry(root.clone()).or_insert(stored_count);
            *count += 1;
            message.thread_id = Some(root);
            ThreadSummary {
                reply_count: *count as u64,
                last_reply_at: at.clone(),
            }
        });
        let kind = EventKind::MessageCreated {
            message: message.clone(),
            thread,
        };
        let event = StoredEvent::new(&rows::event(
            &request.room_id,
            message.seq,
            at.clone(),
            kind,
        ));
        events.push((event.clone(), Some(message.id.clone())));
        created.push(event);
        // A repeat of this send later in the group answers with this message.
        earlier.insert(key, message.clone());
        messages.push(message.clone());
        outcomes.push(Ok(SendOutcome::Created {
            message,
            events: created,
        }));
    }
    // Every write below in one statement where the dialect can (see [`Writes`]); the files
    // after it, each checked as it is taken.
    let mut writes = Writes::new();
    for chunk in joined.chunks(CHUNK) {
        let mut args = Vec::with_capacity(chunk.len() * 4);
        for (room_id, user_id) in chunk {
            args.extend([
                Arg::Text(room_id),
                Arg::Text(user_id),
                Arg::Text("member"),
                Arg::Text(&at),
            ]);
        }
        writes.add(&INSERT_MEMBERS, chunk.len(), args);
    }
    let columns: Vec<(String, Option<String>)> = messages
        .iter()
        .map(|m| {
            let attachments = (!m.attachments.is_empty())
                .then(|| serde_json::to_string(&m.attachments).expect("files serialise"));
            (rows::mentions_column(&m.mentions), attachments)
        })
        .collect();
    let rows_of: Vec<(&Message, &(String, Option<String>))> =
        messages.iter().zip(&columns).collect();
    for chunk in rows_of.chunks(CHUNK) {
        let mut args = Vec::with_capacity(chunk.len() * 12);
        for (m, (mentions, json)) in chunk {
            args.extend([
                Arg::Text(&m.id),
                Arg::Text(&m.room_id),
                Arg::Int(m.seq as i64),
                Arg::Text(&m.author.id),
                Arg::Text(&m.client_id),
                Arg::Text(&m.body),
                Arg::Text(&m.position),
                Arg::Text(&m.created_at),
                Arg::OptText(m.reply_to.as_deref()),
                Arg::OptText(m.thread_id.as_deref()),
                Arg::Text(mentions),
                Arg::OptText(json.as_deref()),
            ]);
        }
        writes.add(&INSERT_MESSAGES, chunk.len(), args);
    }
    let threads: Vec<(String, i64)> = threads.into_iter().collect();
    for chunk in threads.chunks(CHUNK) {
        let mut args = Vec::with_capacity(chunk.len() * 3);
        for (root, count) in chunk {
            args.extend([Arg::Text(root), Arg::Int(*count), Arg::Text(&at)]);
        }
        writes.add(&SET_THREADS, chunk.len(), args);
    }
    super::mention_rows::mention_writes(&messages, &mut writes);
    for chunk in events.chunks(CHUNK) {
        let mut args = Vec::with_capacity(chunk.len() * 4);
        for (event, message_id) in chunk {
            args.extend([
                Arg::Text(&event.room_id),
                Arg::Int(event.seq as i64),
                Arg::OptText(message_id.as_deref()),
                Arg::Text(&event.json),
            ]);
        }
        writes.add(&INSERT_EVENTS, chunk.len(), args);
    }
    // Each touched room's last_seq moves to its last event, all rooms in one statement.
    let touched: Vec<(&str, i64)> = rooms
        .iter()
        .filter(|(_, room)| room.next_seq > room.first_seq)
        .map(|(id, room)| (*id, room.next_seq as i64 - 1))
        .collect();
    for chunk in touched.chunks(CHUNK) {
        let mut args = Vec::with_capacity(chunk.len() * 2);
        for (id, last_seq) in chunk {
            args.extend([Arg::Text(id), Arg::Int(*last_seq)]);
        }
        writes.add(&SET_LAST_SEQ, chunk.len(), args);
    }
    writes.run(conn).await?;
    for (message_id, room_id, ids) in &attached {
        files::attach_in(conn, ids, message_id, room_id).await?;
    }
    Ok(outcomes)
}

/// Files (#12): the wire objects of the files a send attaches, or why it may not: each must be
/// an upload of the author's, not attached yet (nor taken by an earlier send of the group).
async fn attachable<C: Conn>(
    conn: &mut C,
    request: &SendRequest,
    taken: &HashSet<String>,
) -> Result<crate::error::Result<Vec<FileInfo>>, DbError> {
    if request.attachments.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let found = files::files_in(conn, &request.attachments).await?;
    let mut infos = Vec::with_capacity(found.len());
    for (id, file) in request.attachments.iter().zip(found) {
        match file {
            Some(file) if file.owner_id == request.author.id => {
                if file.message_id.is_some() || taken.contains(id) {
                    return Ok(Err(Error::InvalidAttachments(
                        "a file is already attached to a message",
                    )));
                }
                infos.push(file.info());
            }
            _ => return Ok(Err(Error::FileNotFound)),
        }
    }
    Ok(Ok(infos))
}

/// Messages already stored under any of the group's `(author, client_id)` pairs: retries.
pub async fn earlier_sends<C: Conn>(
    conn: &mut C,
    requests: &[&SendRequest],
) -> Result<HashMap<(String, String), Message>, DbError> {
    let mut found = HashMap::new();
    for chunk in requests.chunks(CHUNK) {
        let mut args = Vec::with_capacity(chunk.len() * 2);
        for r in chunk {
            args.extend([Arg::Text(&r.author.id), Arg::Text(&r.client_id)]);
        }
        let sql = EARLIER.text(C::DIALECT, chunk.len());
        conn.fetch(&sql, &args, &mut |row| {
            let message = rows::message(row)?;
            found.insert(
                (message.author.id.clone(), message.client_id.clone()),
                message,
            );
            Ok(())
        })
        .await?;
    }
    if !found.is_empty() {
        // A retry answers with the message as it is now, its reactions included.
        let mut messages: Vec<Message> = found.values().cloned().collect();
        super::decorations::attach(conn, &mut messages).await?;
        for message in messages {
            found.insert(
                (message.author.id.clone(), message.client_id.clone()),
                message,
            );
        }
    }
    Ok(found)
}

/// The live messages the group's sends name as `reply_to` or `thread_id`, by id: one
/// statement, none when no send names any.
async fn referenced<C: Conn>(
    conn: &mut C,
    requests: &[&SendRequest],
) -> Result<HashMap<String, Referenced>, DbError> {
    let mut ids: Vec<&str> = requests
        .iter()
        .flat_map(|r| [r.reply_to.as_deref(), r.thread_id.as_deref()])
        .flatten()
        .collect();
    let mut found = HashMap::new();
    if ids.is_empty() {
        return Ok(found);
    }
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(CHUNK) {
        let args: Vec<Arg> = chunk.iter().map(|id| Arg::Text(id)).collect();
        let sql = REFERENCED.text(C::DIALECT, chunk.len());
        conn.fetch(&sql, &args, &mut |row| {
            let referenced = Referenced {
                room_id: row.text(1)?,
                thread_id: row.opt_text(2)?,
                thread_count: row.int(3)?,
            };
            found.insert(row.text(0)?, referenced);
            Ok(())
        })
        .await?;
    }
    Ok(found)
}

/// The group's rooms as the group starts them, with which of the group's authors are members
/// already, each room locked (PostgreSQL): one statement for any number of rooms. A room that
/// does not exist (or is deleted) is missing from the map.
///
/// The statement waits for each room's lock, and in PostgreSQL (READ COMMITTED) it reads the
/// locked row as the writer it waited for left it, but its subqueries (the last position, the
/// memberships) as they were when it started. The event log tells: every write that moves
/// `last_seq` appends its events in the same transaction, so where the log's last seq is behind
/// the row's, a writer committed meanwhile, and the statement runs once more, holding the locks
/// now, with a fresh snapshot. So an uncontended send locks and reads in one round trip. `true`
/// with the rooms when it ran twice.
async fn group_rooms<'a, C: Conn>(
    conn: &mut C,
    requests: &[&'a SendRequest],
) -> Result<(HashMap<&'a str, GroupRoom>, bool), DbError> {
    let mut pairs: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.room_id.as_str(), r.author.id.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut rooms = HashMap::new();
    for attempt in 0..2 {
        rooms.clear();
        let mut behind = false;
        for chunk in pairs.chunks(CHUNK) {
            let mut args = Vec::with_capacity(chunk.len() * 2);
            for (room_id, user_id) in chunk {
                args.extend([Arg::Text(room_id), Arg::Text(user_id)]);
            }
            let sql = ROOMS.text(C::DIALECT, chunk.len());
            conn.fetch(&sql, &args, &mut |row| {
                let id = row.text(0)?;
                // The map is keyed by the request's own str, which outlives this function.
                let Some((key, _)) = chunk.iter().find(|(room, _)| **room == id) else {
                    return Ok(());
                };
                let last_seq = row.int(2)?;
                behind |= row.int(4)? != last_seq;
                let room = rooms.entry(*key).or_insert_with(|| GroupRoom {
                    first_seq: last_seq as u64 + 1,
                    next_seq: last_seq as u64 + 1,
                    last_position: None,
                    members: HashSet::new(),
                });
                room.last_position = row.opt_text(3)?;
                if row.flag(5)? {
                    room.members.insert(row.text(1)?);
                }
                Ok(())
            })
            .await?;
        }
        if !behind {
            return Ok((rooms, attempt > 0));
        }
    }
    Ok((rooms, true))
}
