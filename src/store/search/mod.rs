//! Search (issue #11): the messages that match a parsed query, newest first, among the rooms the
//! caller may read (decided by the gate before the store is asked: the store gets room ids).
//!
//! Full-text matching is one of the few things the two dialects spell truly differently: SQLite
//! matches an FTS5 table (`sqlite/search.rs`), PostgreSQL a `tsvector` column with a GIN index
//! (`postgres/search.rs`). Both index a body as its runs of letters and digits, folded to lower
//! case, so a query means the same on both. The query text never reaches either as syntax: the
//! chat layer parses it into [`Phrase`]s of plain tokens, and each dialect writes its own match
//! expression from those. The rest of the statement (rooms, author, dates, links, the page) is
//! written once here.

use async_trait::async_trait;

pub(crate) mod terms;

use super::backend::Backend;
use super::dialect::{self, Arg, Conn, Dialect};
use super::postgres::search as postgres;
use super::rows;
use super::sqlite::search as sqlite;
use crate::error::{Error, Result};
use crate::protocol::Message;
use terms::Parts;
pub use terms::Phrase;

/// What to look for, parsed and checked (by `chat::search`).
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    /// Every phrase must match.
    pub phrases: Vec<Phrase>,
    /// No phrase may match.
    pub excluded: Vec<Phrase>,
    /// The rooms to look in (the caller may read each); empty: nothing matches.
    pub room_ids: Vec<String>,
    /// Authors' `username_key`s (any of them); empty: anyone.
    pub authors: Vec<String>,
    /// Only messages with a link in their text.
    pub has_link: bool,
    /// Only messages with a file attached (none before files exist).
    pub has_file: bool,
    /// Created at or after this time (RFC 3339, as the store writes times).
    pub since: Option<String>,
    /// Created before this time.
    pub until: Option<String>,
    /// The cursor of the previous page ([`SearchPage::next_before`]).
    pub before: Option<String>,
    pub limit: u32,
}

/// A page of hits, newest first.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub messages: Vec<Message>,
    /// Where the next page starts; opaque to callers.
    pub next_before: Option<String>,
}

#[async_trait]
pub trait SearchStore: Send + Sync + 'static {
    async fn search(&self, filter: &SearchFilter) -> Result<SearchPage>;
    /// The rooms where the user has a live ban (their messages are not searched).
    async fn banned_room_ids(&self, user_id: &str) -> Result<Vec<String>>;
    /// Rebuilds the search index from the messages (`palaver reindex`).
    async fn reindex(&self) -> Result<()>;
}

/// Numbered placeholders and their values, for a statement made at run time.
#[derive(Default)]
pub(super) struct Args<'a> {
    pub values: Vec<Arg<'a>>,
}

impl<'a> Args<'a> {
    /// Binds `value`: its placeholder.
    pub fn push(&mut self, value: Arg<'a>) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    fn list(&mut self, values: &'a [String]) -> String {
        let marks: Vec<String> = values.iter().map(|v| self.push(Arg::Text(v))).collect();
        marks.join(", ")
    }
}

/// The conditions written once, bound into `args`.
fn common<'a>(dialect: Dialect, filter: &'a SearchFilter, args: &mut Args<'a>) -> Vec<String> {
    // Made at run time, so `deleted`'s literal is spelled here rather than by `sql!`.
    let false_ = match dialect {
        Dialect::Sqlite => "0",
        Dialect::Postgres => "FALSE",
    };
    // First: SQLite's statement without words marks it so (see `sqlite/search.rs`).
    let mut conditions = vec![format!("m.room_id IN ({})", args.list(&filter.room_ids))];
    conditions.push(format!("m.deleted = {false_}"));
    if !filter.authors.is_empty() {
        conditions.push(format!(
            "u.username_key IN ({})",
            args.list(&filter.authors)
        ));
    }
    if let Some(since) = &filter.since {
        conditions.push(format!("m.created_at >= {}", args.push(Arg::Text(since))));
    }
    if let Some(until) = &filter.until {
        conditions.push(format!("m.created_at < {}", args.push(Arg::Text(until))));
    }
    if filter.has_link {
        conditions.push("(m.body LIKE '%http://%' OR m.body LIKE '%https://%')".into());
    }
    if filter.has_file {
        // Files (issue #12) don't exist on this branch yet: no message has one.
        conditions.push("0 = 1".into());
    }
    conditions
}

#[async_trait]
impl<B: Backend> SearchStore for B {
    async fn search(&self, filter: &SearchFilter) -> Result<SearchPage> {
        if filter.room_ids.is_empty() {
            return Ok(SearchPage {
                messages: Vec::new(),
                next_before: None,
            });
        }
        let mut conn = self.read().await?;
        search_in(&mut *conn, filter).await
    }

    async fn banned_room_ids(&self, user_id: &str) -> Result<Vec<String>> {
        let sql = dialect::sql!(
            "SELECT room_id FROM sanctions WHERE user_id = $1 AND kind = 'ban' \
             AND (expires_at IS NULL OR expires_at > $2)"
        );
        let at = super::now();
        let mut conn = self.read().await?;
        let args = [Arg::Text(user_id), Arg::Text(&at)];
        dialect::fetch_all(&mut *conn, &sql, &args, |row| row.text(0)).await
    }

    async fn reindex(&self) -> Result<()> {
        let mut conn = self.write().await?;
        reindex_in(&mut *conn).await
    }
}

async fn search_in<C: Conn>(conn: &mut C, filter: &SearchFilter) -> Result<SearchPage> {
    let dialect = C::DIALECT;
    // The match expressions are made first: the arguments borrow them.
    let (matching, excluded) = match dialect {
        Dialect::Sqlite => (
            sqlite::all_of(&filter.phrases),
            sqlite::any_of(&filter.excluded),
        ),
        Dialect::Postgres => (
            postgres::all_of(&filter.phrases),
            postgres::any_of(&filter.excluded),
        ),
    };
    let mut args = Args::default();
    let conditions = common(dialect, filter, &mut args);
    let matching = matching.as_deref().map(|m| args.push(Arg::Text(m)));
    let excluded = excluded.as_deref().map(|m| args.push(Arg::Text(m)));
    let (mut cursor, mut cursor_at) = (None, None);
    if let Some(before) = &filter.before {
        match dialect {
            Dialect::Sqlite => {
                let (at, rowid) = sqlite::cursor(before)?;
                cursor_at = at.map(|at| args.push(Arg::Text(at)));
                cursor = Some(args.push(Arg::Int(rowid)));
            }
            Dialect::Postgres => cursor = Some(args.push(Arg::Text(postgres::cursor(before)?))),
        }
    }
    let limit = args.push(Arg::Int(i64::from(filter.limit) + 1));
    let parts = Parts {
        conditions,
        matching,
        excluded,
        cursor,
        cursor_at,
        limit,
    };
    let sql = match dialect {
        Dialect::Sqlite => sqlite::statement(&parts),
        Dialect::Postgres => postgres::statement(&parts),
    };
    let found = dialect::fetch_all_text(conn, &sql, &args.values, |row| {
        Ok((row.text(0)?, rows::message_at(row, 1)?))
    })
    .await?;
    let more = found.len() > filter.limit as usize;
    let mut messages = Vec::with_capacity(found.len());
    let mut last_key = None;
    for (key, message) in found.into_iter().take(filter.limit as usize) {
        last_key = Some(key);
        messages.push(message);
    }
    Ok(SearchPage {
        messages,
        next_before: if more { last_key } else { None },
    })
}

async fn reindex_in<C: Conn>(conn: &mut C) -> Result<()> {
    let statements: &[&str] = match C::DIALECT {
        Dialect::Sqlite => sqlite::REINDEX,
        Dialect::Postgres => postgres::REINDEX,
    };
    for sql in statements {
        conn.execute(sql, &[]).await.map_err(Error::from)?;
    }
    Ok(())
}
