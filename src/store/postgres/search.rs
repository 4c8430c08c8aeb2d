//! Search on PostgreSQL: the generated `messages.search` tsvector (migration 0010) with its GIN
//! index, and the statement that reads it.

use crate::error::Result;
use crate::store::search::terms::{bad_cursor, Parts, Phrase, MESSAGE_COLUMNS};

/// The column is generated, so it is always right; rebuilding means rebuilding its index.
pub(crate) const REINDEX: &[&str] = &["REINDEX INDEX messages_search"];

/// One phrase as tsquery text: each token quoted (letters and digits only, so nothing in them is
/// syntax), `<->` between them, `:*` after the last for a prefix.
fn phrase(phrase: &Phrase) -> String {
    let quoted: Vec<String> = phrase.tokens.iter().map(|t| format!("'{t}'")).collect();
    let mut out = quoted.join(" <-> ");
    if phrase.prefix {
        out.push_str(":*");
    }
    if phrase.tokens.len() > 1 {
        out = format!("({out})");
    }
    out
}

pub(crate) fn all_of(phrases: &[Phrase]) -> Option<String> {
    (!phrases.is_empty()).then(|| phrases.iter().map(phrase).collect::<Vec<_>>().join(" & "))
}

pub(crate) fn any_of(phrases: &[Phrase]) -> Option<String> {
    (!phrases.is_empty()).then(|| phrases.iter().map(phrase).collect::<Vec<_>>().join(" | "))
}

/// The cursor is the last hit's id (UUIDv7: ids sort by time).
pub(crate) fn cursor(before: &str) -> Result<&str> {
    if before.len() == 32 && before.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(before)
    } else {
        Err(bad_cursor())
    }
}

/// Newest first is id order (UUIDv7). The planner chooses between the GIN index (rare words)
/// and walking the primary key down (common ones), stopping at the page's end.
pub(crate) fn statement(parts: &Parts) -> String {
    let mut conditions = parts.conditions.clone();
    if let Some(matching) = &parts.matching {
        conditions.push(format!(
            "m.search @@ to_tsquery('simple'::regconfig, {matching})"
        ));
    }
    if let Some(excluded) = &parts.excluded {
        conditions.push(format!(
            "NOT (m.search @@ to_tsquery('simple'::regconfig, {excluded}))"
        ));
    }
    if let Some(cursor) = &parts.cursor {
        conditions.push(format!("m.id < {cursor}"));
    }
    format!(
        "SELECT m.id, {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.author_id \
         WHERE {} ORDER BY m.id DESC LIMIT {}",
        conditions.join(" AND "),
        parts.limit
    )
}
