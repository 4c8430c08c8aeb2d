//! What messages carry from tables of their own (issue #10): their reactions, read for every
//! message handed out ([`attach`]), and the reactions and pins dropped with a deleted message
//! or a cleared room. A leaf of the store's modules: messages, sends, reactions and pins all
//! use it, and it uses none of them.

use std::collections::HashMap;

use super::dialect::{self, sql, Arg, Conn, RowsSql};
use crate::error::Result;
use crate::protocol::{Message, Reaction};

/// Message ids per query (bound values stay far below SQLite's limit).
const IDS_PER_QUERY: usize = 1_000;

static REACTIONS_OF: RowsSql = RowsSql::new(
    sql!("SELECT message_id, emoji, user_id FROM reactions WHERE message_id IN ("),
    1,
    sql!(") ORDER BY seq"),
);

/// Fills in the messages' reactions: one entry per emoji, in the order of its earliest
/// reaction still there, its people in the order they reacted. One query per thousand messages.
pub async fn attach<C: Conn>(conn: &mut C, messages: &mut [Message]) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
    let mut found: HashMap<String, Vec<Reaction>> = HashMap::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let args: Vec<Arg> = chunk.iter().map(|id| Arg::Text(id)).collect();
        let sql = REACTIONS_OF.text(C::DIALECT, chunk.len());
        conn.fetch(&sql, &args, &mut |row| {
            let (message_id, emoji, user_id) = (row.text(0)?, row.text(1)?, row.text(2)?);
            let list = found.entry(message_id).or_default();
            match list.iter_mut().find(|r| r.emoji == emoji) {
                Some(reaction) => {
                    reaction.count += 1;
                    reaction.user_ids.push(user_id);
                }
                None => list.push(Reaction {
                    emoji,
                    count: 1,
                    user_ids: vec![user_id],
                }),
            }
            Ok(())
        })
        .await?;
    }
    for message in messages.iter_mut() {
        message.reactions = found.remove(&message.id).unwrap_or_default();
    }
    Ok(())
}

/// Removes every reaction of the messages (deleted ones), in the caller's transaction.
pub(super) async fn forget_reactions_of<C: Conn>(conn: &mut C, message_id: &str) -> Result<()> {
    let sql = sql!("DELETE FROM reactions WHERE message_id = $1");
    dialect::execute(conn, &sql, &[Arg::Text(message_id)]).await?;
    Ok(())
}

/// Removes every reaction in the room (cleared), in the caller's transaction.
pub(super) async fn forget_reactions_in<C: Conn>(conn: &mut C, room_id: &str) -> Result<()> {
    let sql = sql!("DELETE FROM reactions WHERE room_id = $1");
    dialect::execute(conn, &sql, &[Arg::Text(room_id)]).await?;
    Ok(())
}

/// Unpins a message (deleted), in the caller's transaction.
pub(super) async fn forget_pin_of<C: Conn>(conn: &mut C, message_id: &str) -> Result<()> {
    let sql = sql!("DELETE FROM pins WHERE message_id = $1");
    dialect::execute(conn, &sql, &[Arg::Text(message_id)]).await?;
    Ok(())
}

/// Unpins every message of the room (cleared), in the caller's transaction.
pub(super) async fn forget_pins_in<C: Conn>(conn: &mut C, room_id: &str) -> Result<()> {
    let sql = sql!("DELETE FROM pins WHERE room_id = $1");
    dialect::execute(conn, &sql, &[Arg::Text(room_id)]).await?;
    Ok(())
}
