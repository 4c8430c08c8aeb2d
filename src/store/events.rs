//! The event log: every change to a room is an event with the room's next `seq`, appended in the
//! transaction that makes the change (`rooms.last_seq`, taken under the write lock).

use async_trait::async_trait;

use super::backend::Backend;
use super::dialect::{self, sql, Arg, Conn, RowsSql};
use super::{now, rows, StoredEvent};
use crate::error::{Error, Result};
use crate::protocol::{Event, EventKind};

/// Reading a room's log.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Events with `seq > after`, in order, at most `limit`.
    async fn events_after(&self, room_id: &str, after: u64, limit: u32)
        -> Result<Vec<StoredEvent>>;
    /// The events of many ranges in one read (the replays of subscribes that arrive together,
    /// gathered): for each `(room id, after, upto)`, the room's events with
    /// `after < seq <= upto`, in order; one answer per range, in order.
    async fn events_in(&self, ranges: &[(String, u64, u64)]) -> Result<Vec<Vec<StoredEvent>>>;
    /// The room's last `seq` (0 for a room with no events).
    async fn last_seq(&self, room_id: &str) -> Result<u64>;
}

/// Most ranges one statement of [`EventLog::events_in`] reads (four arguments each).
const RANGES_PER_READ: usize = 500;

/// The events of many `(range index, room id, after, upto)` rows, each with its range's index.
static EVENTS_IN: RowsSql = RowsSql::new(
    sql!("SELECT e.room_id, e.seq, e.payload, k.column1 FROM (VALUES "),
    4,
    sql!(
        ") AS k JOIN events e ON e.room_id = k.column2 AND e.seq > k.column3 \
         AND e.seq <= k.column4 ORDER BY k.column1, e.seq"
    ),
);

/// One statement of [`EventLog::events_in`]: the events of `ranges`, numbered from `first`,
/// each with its range's number.
async fn events_in<C: Conn>(
    conn: &mut C,
    ranges: &[(String, u64, u64)],
    first: usize,
) -> Result<Vec<(StoredEvent, i64)>> {
    let mut args = Vec::with_capacity(ranges.len() * 4);
    for (n, (room_id, after, upto)) in ranges.iter().enumerate() {
        args.extend([
            Arg::Int((first + n) as i64),
            Arg::Text(room_id),
            Arg::Int(*after as i64),
            Arg::Int(*upto as i64),
        ]);
    }
    let sql = EVENTS_IN.text(C::DIALECT, ranges.len());
    dialect::fetch_all_text(conn, &sql, &args, |row| {
        Ok((rows::stored_event(row)?, row.int(3)?))
    })
    .await
}

#[async_trait]
impl<B: Backend> EventLog for B {
    async fn events_after(
        &self,
        room_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let mut conn = self.read().await?;
        let sql = sql!(
            "SELECT room_id, seq, payload FROM events WHERE room_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        );
        let args = [
            Arg::Text(room_id),
            Arg::Int(after as i64),
            Arg::Int(limit as i64),
        ];
        dialect::fetch_all(&mut *conn, &sql, &args, rows::stored_event).await
    }

    async fn events_in(&self, ranges: &[(String, u64, u64)]) -> Result<Vec<Vec<StoredEvent>>> {
        let mut found: Vec<Vec<StoredEvent>> = ranges.iter().map(|_| Vec::new()).collect();
        let mut conn = self.read().await?;
        for (chunk, ranges) in ranges.chunks(RANGES_PER_READ).enumerate() {
            let first = chunk * RANGES_PER_READ;
            for (event, range) in events_in(&mut *conn, ranges, first).await? {
                let range = usize::try_from(range).ok().and_then(|n| found.get_mut(n));
                let range = range.ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!("an event of a range not asked for"))
                })?;
                range.push(event);
            }
        }
        Ok(found)
    }

    async fn last_seq(&self, room_id: &str) -> Result<u64> {
        let mut conn = self.read().await?;
        let sql = sql!("SELECT last_seq FROM rooms WHERE id = $1");
        dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(room_id)], |row| row.int(0))
            .await?
            .map(|seq| seq as u64)
            .ok_or(Error::RoomNotFound)
    }
}

/// Takes the room's next `seq`; `RoomNotFound` when the room is gone. Must run inside the
/// transaction that appends the event.
pub async fn next_seq<C: Conn>(conn: &mut C, room_id: &str) -> Result<u64> {
    let sql = sql!(
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 AND deleted = " FALSE
        " RETURNING last_seq"
    );
    dialect::fetch_optional(conn, &sql, &[Arg::Text(room_id)], |row| row.int(0))
        .await?
        .map(|seq| seq as u64)
        .ok_or(Error::RoomNotFound)
}

/// `INSERT INTO events`: one row's statement (see [`super::sends`] for many).
pub const INSERT_EVENT: dialect::Sql =
    sql!("INSERT INTO events (room_id, seq, message_id, payload) VALUES ($1, $2, $3, $4)");

/// Stores an event made with its `seq` already taken.
pub async fn insert<C: Conn>(
    conn: &mut C,
    event: &Event,
    message_id: Option<&str>,
) -> Result<StoredEvent> {
    let stored = StoredEvent::new(event);
    let args = [
        Arg::Text(&stored.room_id),
        Arg::Int(stored.seq as i64),
        Arg::OptText(message_id),
        Arg::Text(&stored.json),
    ];
    dialect::execute(conn, &INSERT_EVENT, &args).await?;
    Ok(stored)
}

/// Appends one event of `kind` with the room's next seq.
pub async fn append<C: Conn>(
    conn: &mut C,
    room_id: &str,
    kind: EventKind,
    message_id: Option<&str>,
) -> Result<StoredEvent> {
    let seq = next_seq(conn, room_id).await?;
    insert(conn, &rows::event(room_id, seq, now(), kind), message_id).await
}

/// Which events carry text to erase.
pub enum Carrying<'a> {
    /// The events of one message.
    Message(&'a str),
    /// The events of every live message of the room.
    LiveIn(&'a str),
}

/// Erases the text of messages from the events that carried it (`message.created`/`edited`);
/// run before the messages are marked deleted.
pub async fn erase_bodies<C: Conn>(conn: &mut C, which: Carrying<'_>) -> Result<()> {
    let (sql, id) = match which {
        Carrying::Message(id) => (
            sql!("SELECT room_id, seq, payload FROM events WHERE message_id = $1"),
            id,
        ),
        Carrying::LiveIn(room_id) => (
            sql!(
                "SELECT e.room_id, e.seq, e.payload FROM events e \
                 JOIN messages m ON m.id = e.message_id WHERE m.room_id = $1 AND m.deleted = "
                FALSE
            ),
            room_id,
        ),
    };
    let found = dialect::fetch_all(conn, &sql, &[Arg::Text(id)], rows::stored_event).await?;
    for stored in found {
        let mut event = stored.decode()?;
        if let EventKind::MessageCreated { message, .. } | EventKind::MessageEdited { message } =
            &mut event.kind
        {
            message.body.clear();
            // Files (#12): the names of the files go with the text.
            message.attachments.clear();
        }
        let sql = sql!("UPDATE events SET payload = $1 WHERE room_id = $2 AND seq = $3");
        let json = StoredEvent::new(&event).json;
        let args = [
            Arg::Text(&json),
            Arg::Text(&stored.room_id),
            Arg::Int(stored.seq as i64),
        ];
        dialect::execute(conn, &sql, &args).await?;
    }
    Ok(())
}
