//! The seam between SQLite and PostgreSQL: all that the store's procedures ask of a connection.
//!
//! # Why this seam
//! The procedures (accounts, rooms, messages, sends, the event log) are written once, as generic
//! `async fn`s over [`Conn`]: run a statement, read its rows. The alternatives cost more:
//! - sqlx's own generics (`Executor`, `Encode<DB>`, `Decode<DB>`) need a dozen higher-ranked
//!   bounds on every generic function, which Rust does not imply from one trait, and they do not
//!   reach the SQLite group commit, which runs on rusqlite (see [`super::sqlite::commit`]);
//! - `sqlx::Any` chooses the dialect at run time, converts every value on the way, and cannot
//!   lend out the raw SQLite handle that the group commit drives;
//! - a query builder hides the SQL, which is the part worth reading.
//!
//! So the SQL stays text, written once: `$n` placeholders (SQLite and both sqlx drivers accept
//! them; the multi-row statements of the send path use SQLite's plain `?`, see [`RowsSql`]), and
//! the one spelling that differs, boolean literals, is chosen at compile time by [`sql!`] (SQLite matches its partial indexes only to `deleted = 0`;
//! PostgreSQL has no integer booleans); so is the row lock PostgreSQL takes and SQLite, with one
//! writer, does not need. Values are bound through [`Arg`] (a slice on the stack, or for many rows one vector per statement, as before) and rows read
//! by position through [`ReadRow`]; each turns into what the driver takes directly, so the seam
//! adds no allocation and no round trip. [`Conn`] has three implementations: sqlx's SQLite and
//! PostgreSQL connections (one macro, [`sqlx_conn!`]) and the group commit's rusqlite
//! transaction, whose futures are ready at once. [`Backend`] is the rest of what a store is
//! (its pools and its send path); every resource's interface is implemented once over it.

use std::borrow::Cow;
use std::future::Future;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Which SQL a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One statement in both dialects' spelling, made by [`sql!`].
#[derive(Debug, Clone, Copy)]
pub struct Sql {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl Sql {
    pub const fn get(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

/// `sql!("… WHERE deleted = " FALSE " …")`: one statement, spelled for both dialects at compile
/// time. Parts are string literals, macro calls that make one (`message_columns!()`), and the
/// words `FALSE`, `TRUE`, `FOR_UPDATE` (PostgreSQL's row lock; nothing in SQLite),
/// `FOR_NO_KEY_UPDATE_OF "r"` (the lock an update takes, of one table of a join: writers still
/// queue on it, but inserts that only refer to the row don't wait) and `GREATEST` (the larger of
/// its arguments: SQLite's many-argument `MAX`).
macro_rules! sql {
    (@$d:ident [$($out:expr,)*]) => { concat!($($out,)*) };
    (@sqlite [$($out:expr,)*] FALSE $($rest:tt)*) => {
        $crate::store::dialect::sql!(@sqlite [$($out,)* "0",] $($rest)*)
    };
    (@postgres [$($out:expr,)*] FALSE $($rest:tt)*) => {
        $crate::store::dialect::sql!(@postgres [$($out,)* "FALSE",] $($rest)*)
    };
    (@sqlite [$($out:expr,)*] TRUE $($rest:tt)*) => {
        $crate::store::dialect::sql!(@sqlite [$($out,)* "1",] $($rest)*)
    };
    (@postgres [$($out:expr,)*] TRUE $($rest:tt)*) => {
        $crate::store::dialect::sql!(@postgres [$($out,)* "TRUE",] $($rest)*)
    };
    (@sqlite [$($out:expr,)*] FOR_UPDATE $($rest:tt)*) => {
        $crate::store::dialect::sql!(@sqlite [$($out,)*] $($rest)*)
    };
    (@postgres [$($out:expr,)*] FOR_UPDATE $($rest:tt)*) => {
        $crate::store::dialect::sql!(@postgres [$($out,)* " FOR UPDATE",] $($rest)*)
    };
    (@sqlite [$($out:expr,)*] FOR_NO_KEY_UPDATE_OF $table:literal $($rest:tt)*) => {
        $crate::store::dialect::sql!(@sqlite [$($out,)*] $($rest)*)
    };
    (@postgres [$($out:expr,)*] FOR_NO_KEY_UPDATE_OF $table:literal $($rest:tt)*) => {
        $crate::store::dialect::sql!(@postgres [$($out,)* " FOR NO KEY UPDATE OF ", $table,] $($rest)*)
    };
    (@sqlite [$($out:expr,)*] GREATEST $($rest:tt)*) => {
        $crate::store::dialect::sql!(@sqlite [$($out,)* "MAX",] $($rest)*)
    };
    (@postgres [$($out:expr,)*] GREATEST $($rest:tt)*) => {
        $crate::store::dialect::sql!(@postgres [$($out,)* "GREATEST",] $($rest)*)
    };
    (@$d:ident [$($out:expr,)*] $m:ident ! () $($rest:tt)*) => {
        $crate::store::dialect::sql!(@$d [$($out,)* $m!(),] $($rest)*)
    };
    (@$d:ident [$($out:expr,)*] $lit:literal $($rest:tt)*) => {
        $crate::store::dialect::sql!(@$d [$($out,)* $lit,] $($rest)*)
    };
    ($($part:tt)*) => {
        $crate::store::dialect::Sql {
            sqlite: $crate::store::dialect::sql!(@sqlite [] $($part)*),
            postgres: $crate::store::dialect::sql!(@postgres [] $($part)*),
        }
    };
}
pub(crate) use sql;

/// A statement over many rows: `head`, then `rows` tuples of `columns` placeholders (`($1, $2),
/// ($3, $4)`; a bare list `$1, $2` for one column), then `tail`. The text for one row, the
/// PostgreSQL send path's every statement, is made once.
///
/// In SQLite these placeholders are plain `?`: SQLite looks each `$n` up among the statement's
/// earlier names, one by one, which for the thousands of values of a large group of sends costs
/// more than the statement itself. (Statements with a few `$n`, as [`sql!`] writes, don't feel
/// it.)
pub struct RowsSql {
    head: Sql,
    columns: usize,
    tail: Sql,
    one: [OnceLock<String>; 2],
}

impl RowsSql {
    pub const fn new(head: Sql, columns: usize, tail: Sql) -> RowsSql {
        RowsSql {
            head,
            columns,
            tail,
            one: [OnceLock::new(), OnceLock::new()],
        }
    }

    pub fn text(&self, dialect: Dialect, rows: usize) -> Cow<'_, str> {
        if rows == 1 {
            return Cow::Borrowed(
                self.one[dialect as usize].get_or_init(|| self.build(dialect, rows, 0)),
            );
        }
        Cow::Owned(self.build(dialect, rows, 0))
    }

    /// The text with PostgreSQL's placeholders numbered after `skip` earlier ones (`$3, $4` for
    /// `skip` 2): a part of a longer statement (see [`Writes`]).
    fn build(&self, dialect: Dialect, rows: usize, skip: usize) -> String {
        use std::fmt::Write;
        let (head, tail) = (self.head.get(dialect), self.tail.get(dialect));
        let mut sql = String::with_capacity(head.len() + tail.len() + rows * self.columns * 8);
        sql.push_str(head);
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            if self.columns > 1 {
                sql.push('(');
            }
            for column in 0..self.columns {
                if column > 0 {
                    sql.push_str(", ");
                }
                match dialect {
                    Dialect::Sqlite => sql.push('?'),
                    Dialect::Postgres => {
                        let _ = write!(sql, "${}", skip + row * self.columns + column + 1);
                    }
                }
            }
            if self.columns > 1 {
                sql.push(')');
            }
        }
        sql.push_str(tail);
        sql
    }
}

/// Writes of a transaction that need nothing back but success, each a [`RowsSql`] of one or many
/// rows, run in the order added: PostgreSQL's as one statement (one for each 65,535 bound values),
/// each write a data-modifying `WITH` part of it, one round trip where each would cost one;
/// SQLite's one after another, in-process.
///
/// The parts of one PostgreSQL statement see the same snapshot and none sees another's rows, so
/// no write may depend on an earlier one's effect (a foreign key is checked at the statement's
/// end, so a row may refer to one inserted beside it), nor change a row another part changes.
pub struct Writes<'a> {
    parts: Vec<(&'static RowsSql, usize, Vec<Arg<'a>>)>,
}

/// Most values bound in one PostgreSQL statement (its protocol counts them in 16 bits).
const MAX_BOUND: usize = u16::MAX as usize;

impl<'a> Writes<'a> {
    pub fn new() -> Writes<'a> {
        Writes { parts: Vec::new() }
    }

    /// One write: `sql`'s text for `rows` rows, with their values, row after row.
    pub fn add(&mut self, sql: &'static RowsSql, rows: usize, args: Vec<Arg<'a>>) {
        debug_assert_eq!(args.len(), rows * sql.columns);
        if rows > 0 {
            self.parts.push((sql, rows, args));
        }
    }

    pub async fn run<C: Conn>(self, conn: &mut C) -> std::result::Result<(), DbError> {
        use std::fmt::Write;
        if C::DIALECT == Dialect::Sqlite {
            for (sql, rows, args) in &self.parts {
                conn.execute(&sql.text(C::DIALECT, *rows), args).await?;
            }
            return Ok(());
        }
        let mut parts = self.parts.as_slice();
        while !parts.is_empty() {
            // As many parts as one statement may bind (always at least one).
            let mut bound = 0;
            let mut take = 0;
            for (_, _, args) in parts {
                if take > 0 && bound + args.len() > MAX_BOUND {
                    break;
                }
                bound += args.len();
                take += 1;
            }
            let (now, rest) = parts.split_at(take);
            parts = rest;
            if let [(sql, rows, args)] = now {
                conn.execute(&sql.text(C::DIALECT, *rows), args).await?;
                continue;
            }
            let (last, with) = now.split_last().expect("one part at least");
            let mut text = String::from("WITH ");
            let mut args: Vec<Arg<'_>> = Vec::with_capacity(bound);
            for (i, (sql, rows, values)) in with.iter().enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                let _ = write!(text, "w{i} AS (");
                text.push_str(&sql.build(C::DIALECT, *rows, args.len()));
                text.push(')');
                args.extend_from_slice(values);
            }
            text.push(' ');
            text.push_str(&last.0.build(C::DIALECT, last.1, args.len()));
            args.extend_from_slice(&last.2);
            conn.execute(&text, &args).await?;
        }
        Ok(())
    }
}

impl Default for Writes<'_> {
    fn default() -> Self {
        Writes::new()
    }
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    Bool(bool),
}

/// A row, read by column position.
pub trait ReadRow {
    fn text(&self, column: usize) -> Result<String>;
    fn opt_text(&self, column: usize) -> Result<Option<String>>;
    fn int(&self, column: usize) -> Result<i64>;
    /// A boolean column: `INTEGER` 0/1 in SQLite, `BOOLEAN` in PostgreSQL.
    fn flag(&self, column: usize) -> Result<bool>;
}

/// A failed statement: what it means for the caller, and whether it broke a unique index (a
/// taken name, a retried `client_id`).
#[derive(Debug)]
pub struct DbError {
    pub error: Error,
    pub unique: bool,
}

impl DbError {
    /// `taken` when a unique index refused the write, the error otherwise.
    pub fn unique_or(self, taken: Error) -> Error {
        if self.unique {
            taken
        } else {
            self.error
        }
    }
}

impl From<Error> for DbError {
    fn from(error: Error) -> DbError {
        DbError {
            error,
            unique: false,
        }
    }
}

impl From<DbError> for Error {
    fn from(err: DbError) -> Error {
        err.error
    }
}

/// A row callback of [`Conn::fetch`].
pub type EachRow<'f> = dyn FnMut(&dyn ReadRow) -> Result<()> + Send + 'f;

/// A connection, inside a transaction or not.
pub trait Conn {
    const DIALECT: Dialect;

    /// Runs a statement: how many rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = std::result::Result<u64, DbError>> + Send;

    /// Runs a query, handing each row to `each` in order.
    fn fetch(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        each: &mut EachRow<'_>,
    ) -> impl Future<Output = std::result::Result<(), DbError>> + Send;
}

/// The statement's text in `C`'s dialect.
pub fn text<C: Conn>(sql: &Sql) -> &'static str {
    sql.get(C::DIALECT)
}

/// Runs a statement written with [`sql!`].
pub async fn execute<C: Conn>(
    conn: &mut C,
    sql: &Sql,
    args: &[Arg<'_>],
) -> std::result::Result<u64, DbError> {
    conn.execute(text::<C>(sql), args).await
}

/// Every row of a query written with [`sql!`], each made by `map`.
pub async fn fetch_all<C: Conn, T: Send>(
    conn: &mut C,
    sql: &Sql,
    args: &[Arg<'_>],
    map: fn(&dyn ReadRow) -> Result<T>,
) -> Result<Vec<T>> {
    fetch_all_text(conn, text::<C>(sql), args, map).await
}

/// Every row of a query, each made by `map`.
pub async fn fetch_all_text<C: Conn, T: Send>(
    conn: &mut C,
    sql: &str,
    args: &[Arg<'_>],
    map: fn(&dyn ReadRow) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    conn.fetch(sql, args, &mut |row| {
        out.push(map(row)?);
        Ok(())
    })
    .await?;
    Ok(out)
}

/// The first row of a query, if any, made by `map`.
pub async fn fetch_optional<C: Conn, T: Send>(
    conn: &mut C,
    sql: &Sql,
    args: &[Arg<'_>],
    map: fn(&dyn ReadRow) -> Result<T>,
) -> Result<Option<T>> {
    let mut out = None;
    conn.fetch(text::<C>(sql), args, &mut |row| {
        if out.is_none() {
            out = Some(map(row)?);
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// Implements [`Conn`] and [`ReadRow`] for one sqlx driver: `sqlx_conn!(Sqlite,
/// SqliteConnection, SqliteRow, Dialect::Sqlite, db_err)`, where `db_err` turns a `sqlx::Error` into ours.
macro_rules! sqlx_conn {
    ($db:ty, $conn:ty, $row:ty, $dialect:expr, $db_err:path) => {
        const _: () = {
            /// The query with its arguments bound, each as the driver takes it.
            fn bind<'q>(
                sql: &'q str,
                args: &[$crate::store::dialect::Arg<'q>],
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
                let mut query = sqlx::query(sql);
                for arg in args {
                    query = match *arg {
                        $crate::store::dialect::Arg::Text(v) => query.bind(v),
                        $crate::store::dialect::Arg::OptText(v) => query.bind(v),
                        $crate::store::dialect::Arg::Int(v) => query.bind(v),
                        $crate::store::dialect::Arg::Bool(v) => query.bind(v),
                    };
                }
                query
            }

            impl $crate::store::dialect::ReadRow for $row {
                fn text(&self, column: usize) -> $crate::error::Result<String> {
                    $crate::store::dialect::read(sqlx::Row::try_get(self, column))
                }
                fn opt_text(&self, column: usize) -> $crate::error::Result<Option<String>> {
                    $crate::store::dialect::read(sqlx::Row::try_get(self, column))
                }
                fn int(&self, column: usize) -> $crate::error::Result<i64> {
                    $crate::store::dialect::read(sqlx::Row::try_get(self, column))
                }
                fn flag(&self, column: usize) -> $crate::error::Result<bool> {
                    $crate::store::dialect::read(sqlx::Row::try_get(self, column))
                }
            }

            impl $crate::store::dialect::SqlxConn for $conn {
                fn db_err(err: sqlx::Error) -> $crate::error::Error {
                    $db_err(err)
                }
            }

            impl $crate::store::dialect::Conn for $conn {
                const DIALECT: $crate::store::dialect::Dialect = $dialect;

                fn execute(
                    &mut self,
                    sql: &str,
                    args: &[$crate::store::dialect::Arg<'_>],
                ) -> impl std::future::Future<
                    Output = std::result::Result<u64, $crate::store::dialect::DbError>,
                > + Send {
                    async move {
                        match bind(sql, args).execute(&mut *self).await {
                            Ok(done) => Ok(done.rows_affected()),
                            Err(err) => Err($crate::store::dialect::db_error(err, $db_err)),
                        }
                    }
                }

                fn fetch(
                    &mut self,
                    sql: &str,
                    args: &[$crate::store::dialect::Arg<'_>],
                    each: &mut $crate::store::dialect::EachRow<'_>,
                ) -> impl std::future::Future<
                    Output = std::result::Result<(), $crate::store::dialect::DbError>,
                > + Send {
                    async move {
                        use futures_util::TryStreamExt;
                        let mut rows = bind(sql, args).fetch(&mut *self);
                        loop {
                            match rows.try_next().await {
                                Ok(Some(row)) => each(&row)?,
                                Ok(None) => return Ok(()),
                                Err(err) => {
                                    return Err($crate::store::dialect::db_error(err, $db_err))
                                }
                            }
                        }
                    }
                }
            }
        };
    };
}
pub(crate) use sqlx_conn;

/// A column read through sqlx, its failure an internal error.
pub fn read<T>(value: std::result::Result<T, sqlx::Error>) -> Result<T> {
    value.map_err(|err| Error::Internal(anyhow::anyhow!("unreadable column: {err}")))
}

/// A failed sqlx statement, mapped by the dialect's `db_err`.
pub fn db_error(err: sqlx::Error, db_err: fn(sqlx::Error) -> Error) -> DbError {
    let unique = matches!(&err, sqlx::Error::Database(db) if db.is_unique_violation());
    DbError {
        error: db_err(err),
        unique,
    }
}

/// A sqlx connection: a [`Conn`] whose driver errors the dialect maps (see [`sqlx_conn!`]).
pub trait SqlxConn: Conn {
    fn db_err(err: sqlx::Error) -> Error;
}
