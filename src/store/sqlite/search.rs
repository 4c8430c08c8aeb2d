//! Search on SQLite: the FTS5 table `message_search` (migration 0010) over `messages`, kept in
//! step by triggers in the transaction of every write, and the statement that reads it.

use crate::error::Result;
use crate::store::search::terms::{bad_cursor, Parts, Phrase, MESSAGE_COLUMNS};

/// The triggers that keep the index in step with `messages`: a send indexes the body, an edit
/// replaces it, a delete, a clear or a room's deletion (the body becomes '') takes it out.
/// Moves don't touch the body, so they don't touch the index.
const TRIGGERS: &[(&str, &str)] = &[
    (
        "message_search_insert",
        "CREATE TRIGGER IF NOT EXISTS message_search_insert AFTER INSERT ON messages BEGIN \
         INSERT INTO message_search(rowid, body) VALUES (new.rowid, new.body); END",
    ),
    (
        "message_search_update",
        "CREATE TRIGGER IF NOT EXISTS message_search_update AFTER UPDATE OF body ON messages \
         BEGIN \
         INSERT INTO message_search(message_search, rowid, body) \
         VALUES ('delete', old.rowid, old.body); \
         INSERT INTO message_search(rowid, body) VALUES (new.rowid, new.body); END",
    ),
    (
        "message_search_delete",
        "CREATE TRIGGER IF NOT EXISTS message_search_delete AFTER DELETE ON messages BEGIN \
         INSERT INTO message_search(message_search, rowid, body) \
         VALUES ('delete', old.rowid, old.body); END",
    ),
];

/// Rebuilds the index from the messages' bodies.
pub(crate) const REINDEX: &[&str] =
    &["INSERT INTO message_search(message_search) VALUES ('rebuild')"];

/// Set only by benchmarks, to measure what indexing costs the send path: the store then opens
/// without the triggers (the index goes stale until the next open without it rebuilds it).
pub const UNINDEXED_ENV: &str = "PALAVER_BENCH_UNINDEXED";

/// At open: installs the triggers, rebuilding the index when they were missing (a new store, or
/// one a benchmark opened unindexed); or, under [`UNINDEXED_ENV`], drops them.
pub(super) async fn prepare(writer: &sqlx::SqlitePool) -> anyhow::Result<()> {
    let unindexed = std::env::var(UNINDEXED_ENV).is_ok_and(|v| v == "1");
    let mut tx = writer.begin().await?;
    let present: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'message_search_%'",
    )
    .fetch_one(&mut *tx)
    .await?;
    if unindexed {
        tracing::warn!("{UNINDEXED_ENV}=1: the search index is not kept (benchmarks only)");
        for (name, _) in TRIGGERS {
            sqlx::query(&format!("DROP TRIGGER IF EXISTS {name}"))
                .execute(&mut *tx)
                .await?;
        }
    } else if present < TRIGGERS.len() as i64 {
        for (_, create) in TRIGGERS {
            sqlx::query(create).execute(&mut *tx).await?;
        }
        for sql in REINDEX {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// One phrase in FTS5's syntax: each token in double quotes (tokens are letters and digits
/// only, so nothing in them is syntax), `*` after the last for a prefix.
fn phrase(phrase: &Phrase) -> String {
    let mut out = String::from("\"");
    out.push_str(&phrase.tokens.join(" "));
    out.push('"');
    if phrase.prefix {
        out.push('*');
    }
    out
}

/// Every phrase (FTS5's implicit AND).
pub(crate) fn all_of(phrases: &[Phrase]) -> Option<String> {
    (!phrases.is_empty()).then(|| phrases.iter().map(phrase).collect::<Vec<_>>().join(" "))
}

/// Any of the phrases.
pub(crate) fn any_of(phrases: &[Phrase]) -> Option<String> {
    (!phrases.is_empty()).then(|| phrases.iter().map(phrase).collect::<Vec<_>>().join(" OR "))
}

/// The cursor is the last hit's rowid, after its time and a `/` for a search without words.
pub(crate) fn cursor(before: &str) -> Result<(Option<&str>, i64)> {
    let (at, rowid) = match before.rsplit_once('/') {
        Some((at, rowid)) => (Some(at), rowid),
        None => (None, before),
    };
    let plain =
        |at: &str| !at.is_empty() && at.len() <= 40 && at.bytes().all(|b| b.is_ascii_graphic());
    if at.is_some_and(|at| !plain(at)) {
        return Err(bad_cursor());
    }
    Ok((at, rowid.parse().map_err(|_| bad_cursor())?))
}

/// Newest first is rowid order (the order messages were committed). With words to match, FTS5
/// walks its matches from the highest rowid down and the join stops at the page's end; the
/// `CROSS JOIN` keeps the index on the outside.
pub(crate) fn statement(parts: &Parts) -> String {
    let mut conditions = parts.conditions.clone();
    if let Some(excluded) = &parts.excluded {
        conditions.push(format!(
            "m.rowid NOT IN (SELECT rowid FROM message_search WHERE message_search MATCH {excluded})"
        ));
    }
    match &parts.matching {
        Some(matching) => {
            conditions.push(format!("message_search MATCH {matching}"));
            if let Some(cursor) = &parts.cursor {
                conditions.push(format!("f.rowid < {cursor}"));
            }
            format!(
                "SELECT CAST(f.rowid AS TEXT), {MESSAGE_COLUMNS} FROM message_search f \
                 CROSS JOIN messages m ON m.rowid = f.rowid JOIN users u ON u.id = m.author_id \
                 WHERE {} ORDER BY f.rowid DESC LIMIT {}",
                conditions.join(" AND "),
                parts.limit
            )
        }
        None => {
            // Without words, newest first is by time, through `messages_created`: from the
            // newest (or a date bound) down, until the page is full. The room list must not
            // pick the room's position index instead (`+` keeps a term off every index): that
            // would read every message of the rooms and sort them.
            conditions[0] = format!("+{}", conditions[0]);
            match (&parts.cursor_at, &parts.cursor) {
                (Some(at), Some(rowid)) => conditions.push(format!(
                    "(m.created_at < {at} OR (m.created_at = {at} AND m.rowid < {rowid}))"
                )),
                (None, Some(rowid)) => conditions.push(format!("m.rowid < {rowid}")),
                _ => {}
            }
            format!(
                "SELECT m.created_at || '/' || m.rowid, {MESSAGE_COLUMNS} FROM messages m \
                 JOIN users u ON u.id = m.author_id \
                 WHERE {} ORDER BY m.created_at DESC, m.rowid DESC LIMIT {}",
                conditions.join(" AND "),
                parts.limit
            )
        }
    }
}
