//! What the shared part of search hands each dialect's part (`sqlite/search.rs`,
//! `postgres/search.rs`), apart from the procedure so that neither imports the other.

use crate::error::Error;
use crate::store::rows::message_columns;

/// Tokens that must appear one after another; the last one as a prefix when `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    /// Lower case, letters and digits only (never empty strings).
    pub tokens: Vec<String>,
    pub prefix: bool,
}

/// What a dialect's statement is made of: the conditions written once (on `m`, the message, and
/// `u`, its author), and the dialect's own match expressions and cursor, already bound.
pub(crate) struct Parts {
    pub conditions: Vec<String>,
    /// The placeholder of the match expression every hit must satisfy, if any.
    pub matching: Option<String>,
    /// The placeholder of the expression no hit may satisfy, if any.
    pub excluded: Option<String>,
    /// The placeholder of the previous page's cursor (its last hit's key), if any.
    pub cursor: Option<String>,
    /// The placeholder of the time in the previous page's cursor, when it has one (SQLite's
    /// cursors of searches without words: their pages go by time).
    pub cursor_at: Option<String>,
    /// The placeholder of the row count (one more than the page).
    pub limit: String,
}

/// The columns every dialect's statement selects after its cursor column.
pub(crate) const MESSAGE_COLUMNS: &str = message_columns!();

/// A cursor this store did not make.
pub(crate) fn bad_cursor() -> Error {
    Error::InvalidRequest("before is not a cursor from a search page".into())
}
