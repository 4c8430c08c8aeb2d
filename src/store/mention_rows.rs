//! The mention rows of messages (issue #10), written in the transactions of sends, edits,
//! deletes and clears. Apart from [`super::unread`] (which reads them) so that the send path can
//! write them without importing the store's backend: no import cycle.

use super::dialect::{self, sql, Arg, Conn, DbError, RowsSql, Writes};
use crate::protocol::Message;

/// Rows per statement (as the send path's groups).
const CHUNK: usize = 1_000;

static INSERT_MENTIONS: RowsSql = RowsSql::new(
    sql!("INSERT INTO mentions (user_id, room_id, seq, message_id) VALUES "),
    4,
    sql!(""),
);

/// Writes the mention rows of new messages (none for the author). Thread replies get none: the
/// rows exist only for the unread counts, which leave thread replies out, so counting them needs
/// no look at the messages.
pub async fn insert_mentions<C: Conn>(conn: &mut C, messages: &[Message]) -> Result<(), DbError> {
    let mut writes = Writes::new();
    mention_writes(messages, &mut writes);
    writes.run(conn).await
}

/// [`insert_mentions`] as writes of a longer [`Writes`] (the send path's).
pub fn mention_writes<'a>(messages: &'a [Message], writes: &mut Writes<'a>) {
    let rows: Vec<(&str, &Message)> = messages
        .iter()
        .filter(|m| m.thread_id.is_none())
        .flat_map(|m| {
            m.mentions
                .iter()
                .filter(move |id| **id != m.author.id)
                .map(move |id| (id.as_str(), m))
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        let mut args = Vec::with_capacity(chunk.len() * 4);
        for (user_id, m) in chunk {
            args.extend([
                Arg::Text(user_id),
                Arg::Text(&m.room_id),
                Arg::Int(m.seq as i64),
                Arg::Text(&m.id),
            ]);
        }
        writes.add(&INSERT_MENTIONS, chunk.len(), args);
    }
}

/// Replaces an edited message's mention rows.
pub async fn replace_mentions<C: Conn>(conn: &mut C, message: &Message) -> Result<(), DbError> {
    let sql = sql!("DELETE FROM mentions WHERE message_id = $1");
    dialect::execute(conn, &sql, &[Arg::Text(&message.id)]).await?;
    insert_mentions(conn, std::slice::from_ref(message)).await
}

/// Deletes the mention rows of every live message of the room (it is cleared or deleted).
pub async fn forget_room_mentions<C: Conn>(conn: &mut C, room_id: &str) -> Result<(), DbError> {
    let sql = sql!(
        "DELETE FROM mentions WHERE message_id IN \
         (SELECT id FROM messages WHERE room_id = $1 AND deleted = " FALSE ")"
    );
    dialect::execute(conn, &sql, &[Arg::Text(room_id)]).await?;
    Ok(())
}
