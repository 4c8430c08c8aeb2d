//! The SQLite store's group commit: the hot path of every send.
//!
//! One thread of its own takes every send waiting into one transaction and answers each only
//! after that transaction has committed. The transaction runs on the writer pool's one
//! connection, so it queues with every other write in process, but it is driven directly
//! through SQLite's API (`rusqlite` on the handle that sqlx lends out with `lock_handle`)
//! instead of through sqlx's worker thread: there, every statement and every row is a hand-off
//! between two threads, and on a busy 2-core machine those hand-offs (futex wake-ups and
//! context switches) were half of the server's CPU in the many-rooms benchmark. A group now
//! costs two hand-offs whatever its size: lending the handle out and taking it back.

use std::collections::{HashMap, HashSet};

use rusqlite::types::ToSql;
use rusqlite::{Connection, TransactionBehavior};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::sqlite::{new_id, now};
use super::{position, PublishSlot, SendOutcome, SendRequest, StoredEvent};
use crate::error::{Error, Result};
use crate::protocol::{Event, EventKind, Message, User};

/// A send waiting for the group commit.
pub(super) struct SendJob {
    pub request: SendRequest,
    pub reply: oneshot::Sender<Result<SendOutcome>>,
}

/// Most sends committed in one transaction.
const GROUP_MAX: usize = 512;
/// Rows per multi-row statement: bound values stay far below SQLite's limit of 32,766.
const CHUNK: usize = 1_000;

/// Starts the group-commit thread; it ends when every sender of `jobs` is gone.
pub(super) fn start(
    pool: SqlitePool,
    jobs: mpsc::UnboundedReceiver<SendJob>,
    publish: PublishSlot,
) -> std::io::Result<()> {
    // A runtime of its own for the few awaits (taking the pool's connection and its handle):
    // on the shared runtime, each would wait behind every socket task ready to run.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("palaver-commit".into())
        .spawn(move || runtime.block_on(group_commit(pool, jobs, publish)))?;
    Ok(())
}

/// Takes every send waiting (up to [`GROUP_MAX`]) into one transaction, and answers each only
/// after that transaction has committed and its events are published (through `publish`, in
/// commit order, from this thread: see [`super::Store::publish_sends`]). Jobs run in arrival
/// order, so one client's sends keep their order. A send that fails on its own (an unknown room)
/// wrote nothing and is answered with its error while the others commit; a database error fails
/// the whole group, and none of it is acknowledged.
///
/// A group costs a handful of statements whatever its size (see [`store_group`]); everything
/// that arrived while the last group committed joins the next, so under load groups grow by
/// themselves, and an idle server commits a lone send at once.
async fn group_commit(
    pool: SqlitePool,
    mut jobs: mpsc::UnboundedReceiver<SendJob>,
    publish: PublishSlot,
) {
    let mut group: Vec<SendJob> = Vec::with_capacity(GROUP_MAX);
    while let Some(job) = jobs.recv().await {
        group.push(job);
        while group.len() < GROUP_MAX {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let requests: Vec<&SendRequest> = group.iter().map(|job| &job.request).collect();
        match commit(&pool, &requests).await {
            Ok(outcomes) => {
                for (job, outcome) in group.drain(..).zip(outcomes) {
                    publish.publish(&outcome);
                    let _ = job.reply.send(outcome);
                }
            }
            Err(err) => {
                err.log_if_internal();
                let reason = err.to_string();
                for job in group.drain(..) {
                    let _ = job
                        .reply
                        .send(Err(Error::Unavailable(anyhow::anyhow!("{reason}"))));
                }
            }
        }
    }
}

/// One group in one transaction on the writer connection.
async fn commit(pool: &SqlitePool, requests: &[&SendRequest]) -> Result<Vec<Result<SendOutcome>>> {
    let mut conn = pool.acquire().await.map_err(pool_err)?;
    let mut handle = conn.lock_handle().await.map_err(pool_err)?;
    // SAFETY: `handle` keeps sqlx's worker thread off this connection until it is dropped, and
    // the rusqlite wrapper is dropped before it (end of this block); `from_handle` never closes
    // the connection. The wrapper always leaves the connection outside a transaction: the
    // transaction commits, or is rolled back when dropped on any error.
    let db =
        unsafe { Connection::from_handle(handle.as_raw_handle().as_ptr()) }.map_err(sql_err)?;
    let outcome = (|| {
        let mut db = db;
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err)?;
        let outcomes = store_group(&tx, requests)?;
        tx.commit().map_err(sql_err)?;
        Ok(outcomes)
    })();
    drop(handle);
    outcome
}

fn pool_err(err: sqlx::Error) -> Error {
    Error::Unavailable(err.into())
}

fn sql_err(err: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::*;
    match err.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked | CannotOpen | DiskFull | SystemIoFailure) => {
            Error::Unavailable(err.into())
        }
        _ => Error::Internal(err.into()),
    }
}

/// `(?, ?), (?, ?)`: `rows` tuples of `columns` placeholders.
fn tuples(rows: usize, columns: usize) -> String {
    let one = format!("({})", vec!["?"; columns].join(", "));
    vec![one; rows].join(", ")
}

/// Runs `sql` with `values` bound in order.
fn execute(db: &Connection, sql: &str, values: &[&dyn ToSql]) -> Result<()> {
    db.prepare(sql)
        .and_then(|mut statement| statement.execute(values))
        .map(|_| ())
        .map_err(sql_err)
}

/// A room as the group found it, and what the group did to it.
struct GroupRoom {
    /// The seq the group's first event here takes (so: whether it took any).
    first_seq: u64,
    next_seq: u64,
    last_position: Option<String>,
    members: HashSet<String>,
}

/// Stores a group of sends in the open transaction, in order, with a handful of statements
/// whatever the group's size: one lookup of earlier sends with the same `client_id`s, two reads
/// for the rooms and memberships, then one multi-row insert each for new members, messages and
/// events, and one update of every touched room's `last_seq`. A send to a missing room fails
/// alone, writing nothing; a database error fails the whole group (the transaction rolls back).
fn store_group(db: &Connection, requests: &[&SendRequest]) -> Result<Vec<Result<SendOutcome>>> {
    let mut earlier = earlier_sends(db, requests)?;
    let mut rooms = group_rooms(db, requests)?;
    let at = now();
    let mut joined: Vec<(&str, &str)> = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    let mut events: Vec<(StoredEvent, Option<String>)> = Vec::new();
    let mut outcomes = Vec::with_capacity(requests.len());
    for request in requests {
        let key = (request.author.id.clone(), request.client_id.clone());
        if let Some(message) = earlier.get(&key) {
            outcomes.push(Ok(SendOutcome::Existing(message.clone())));
            continue;
        }
        let Some(room) = rooms.get_mut(request.room_id.as_str()) else {
            outcomes.push(Err(Error::RoomNotFound));
            continue;
        };
        let mut created = Vec::with_capacity(2);
        if room.members.insert(request.author.id.clone()) {
            joined.push((&request.room_id, &request.author.id));
            let event = StoredEvent::new(&Event {
                room_id: request.room_id.clone(),
                seq: room.next_seq,
                at: at.clone(),
                kind: EventKind::MemberJoined {
                    user: request.author.clone(),
                },
            });
            room.next_seq += 1;
            events.push((event.clone(), None));
            created.push(event);
        }
        let message = Message {
            id: new_id(),
            room_id: request.room_id.clone(),
            seq: room.next_seq,
            author: request.author.clone(),
            body: request.body.clone(),
            client_id: request.client_id.clone(),
            created_at: at.clone(),
            edited_at: None,
            position: position::after(room.last_position.as_deref()),
        };
        room.next_seq += 1;
        room.last_position = Some(message.position.clone());
        let event = StoredEvent::new(&Event {
            room_id: request.room_id.clone(),
            seq: message.seq,
            at: at.clone(),
            kind: EventKind::MessageCreated {
                message: message.clone(),
            },
        });
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
    for chunk in joined.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO members (room_id, user_id, role, joined_at) VALUES {}",
            tuples(chunk.len(), 4)
        );
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 4);
        for (room_id, user_id) in chunk {
            values.extend([room_id as &dyn ToSql, user_id, &"member", &at]);
        }
        execute(db, &sql, &values)?;
    }
    let seqs: Vec<i64> = messages.iter().map(|m| m.seq as i64).collect();
    for (chunk, seqs) in messages.chunks(CHUNK).zip(seqs.chunks(CHUNK)) {
        let sql = format!(
            "INSERT INTO messages (id, room_id, seq, author_id, client_id, body, position, \
             created_at) VALUES {}",
            tuples(chunk.len(), 8)
        );
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 8);
        for (m, seq) in chunk.iter().zip(seqs) {
            values.extend([
                &m.id as &dyn ToSql,
                &m.room_id,
                seq,
                &m.author.id,
                &m.client_id,
                &m.body,
                &m.position,
                &m.created_at,
            ]);
        }
        execute(db, &sql, &values)?;
    }
    let seqs: Vec<i64> = events.iter().map(|(e, _)| e.seq as i64).collect();
    for (chunk, seqs) in events.chunks(CHUNK).zip(seqs.chunks(CHUNK)) {
        let sql = format!(
            "INSERT INTO events (room_id, seq, message_id, payload) VALUES {}",
            tuples(chunk.len(), 4)
        );
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 4);
        for ((event, message_id), seq) in chunk.iter().zip(seqs) {
            values.extend([&event.room_id as &dyn ToSql, seq, message_id, &event.json]);
        }
        execute(db, &sql, &values)?;
    }
    // Each touched room's last_seq moves to its last event, all rooms in one statement.
    let touched: Vec<(&str, i64)> = rooms
        .iter()
        .filter(|(_, room)| room.next_seq > room.first_seq)
        .map(|(id, room)| (*id, room.next_seq as i64 - 1))
        .collect();
    for chunk in touched.chunks(CHUNK) {
        let sql = format!(
            "UPDATE rooms SET last_seq = k.column2 FROM (VALUES {}) AS k WHERE rooms.id = k.column1",
            tuples(chunk.len(), 2)
        );
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 2);
        for (id, last_seq) in chunk {
            values.extend([id as &dyn ToSql, last_seq]);
        }
        execute(db, &sql, &values)?;
    }
    Ok(outcomes)
}

/// Messages already stored under any of the group's `(author, client_id)` pairs: retries.
fn earlier_sends(
    db: &Connection,
    requests: &[&SendRequest],
) -> Result<HashMap<(String, String), Message>> {
    let mut found = HashMap::new();
    for chunk in requests.chunks(CHUNK) {
        let sql = format!(
            "SELECT m.id, m.room_id, m.seq, m.body, m.client_id, m.created_at, m.edited_at, \
             m.position, u.id, u.username, u.guest FROM (VALUES {}) AS k \
             JOIN messages m ON m.author_id = k.column1 AND m.client_id = k.column2 \
             JOIN users u ON u.id = m.author_id",
            tuples(chunk.len(), 2)
        );
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 2);
        for r in chunk {
            values.extend([&r.author.id as &dyn ToSql, &r.client_id]);
        }
        let mut statement = db.prepare(&sql).map_err(sql_err)?;
        let rows = statement
            .query_map(values.as_slice(), |row| {
                Ok(Message {
                    id: row.get(0)?,
                    room_id: row.get(1)?,
                    seq: row.get::<_, i64>(2)? as u64,
                    body: row.get(3)?,
                    client_id: row.get(4)?,
                    created_at: row.get(5)?,
                    edited_at: row.get(6)?,
                    position: row.get(7)?,
                    author: User {
                        id: row.get(8)?,
                        username: row.get(9)?,
                        guest: row.get::<_, i64>(10)? != 0,
                    },
                })
            })
            .map_err(sql_err)?;
        for message in rows {
            let message = message.map_err(sql_err)?;
            found.insert(
                (message.author.id.clone(), message.client_id.clone()),
                message,
            );
        }
    }
    Ok(found)
}

/// The group's rooms as the group starts them, with which of the group's authors are members
/// already: two statements for any number of rooms. A room that does not exist (or is deleted)
/// is missing from the map.
fn group_rooms<'a>(
    db: &Connection,
    requests: &[&'a SendRequest],
) -> Result<HashMap<&'a str, GroupRoom>> {
    let mut room_ids: Vec<&str> = requests.iter().map(|r| r.room_id.as_str()).collect();
    room_ids.sort_unstable();
    room_ids.dedup();
    let mut pairs: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.room_id.as_str(), r.author.id.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut rooms = HashMap::new();
    for chunk in room_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT r.id, r.last_seq, (SELECT MAX(m.position) FROM messages m \
             WHERE m.room_id = r.id AND m.deleted = 0) FROM rooms r \
             WHERE r.deleted = 0 AND r.id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let values: Vec<&dyn ToSql> = chunk.iter().map(|id| id as &dyn ToSql).collect();
        let mut statement = db.prepare(&sql).map_err(sql_err)?;
        let rows = statement
            .query_map(values.as_slice(), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(sql_err)?;
        for row in rows {
            let (id, last_seq, last_position) = row.map_err(sql_err)?;
            // The map is keyed by the request's own str, which outlives this function.
            let Some(key) = chunk.iter().find(|r| **r == id) else {
                continue;
            };
            rooms.insert(
                *key,
                GroupRoom {
                    first_seq: last_seq as u64 + 1,
                    next_seq: last_seq as u64 + 1,
                    last_position,
                    members: HashSet::new(),
                },
            );
        }
    }
    for chunk in pairs.chunks(CHUNK) {
        let sql = format!(
            "SELECT k.column1, k.column2 FROM (VALUES {}) AS k \
             JOIN members mb ON mb.room_id = k.column1 AND mb.user_id = k.column2",
            tuples(chunk.len(), 2)
        );
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 2);
        for (room_id, user_id) in chunk {
            values.extend([room_id as &dyn ToSql, user_id]);
        }
        let mut statement = db.prepare(&sql).map_err(sql_err)?;
        let rows = statement
            .query_map(values.as_slice(), |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(sql_err)?;
        for row in rows {
            let (room_id, user_id) = row.map_err(sql_err)?;
            if let Some(room) = rooms.get_mut(room_id.as_str()) {
                room.members.insert(user_id);
            }
        }
    }
    Ok(rooms)
}
