//! `palaver copy-to-postgres`: copies a single-node SQLite store into an empty PostgreSQL
//! database, so a single node can become a cluster without losing a message, a session or a `seq`.
//!
//! - The source is opened read-only and read in one read transaction: with WAL that is a
//!   consistent snapshot even if a server still writes to it. A second, fresh read after the copy
//!   checks that nothing changed meanwhile; if something did (a server still running), the copy
//!   is rolled back and the command says to stop the server first.
//! - The target must hold no rows in Palaver's tables and no tables of anything else; that is
//!   checked before anything is written to it. It is then brought up to date by
//!   [`PostgresStore::open`] (the migrations), and everything else happens in one PostgreSQL
//!   transaction that first locks every table and checks again: all or nothing, and never a mix
//!   of two stores.
//! - What is copied follows from [`schema::TABLES`]: its tables in its (foreign-key) order, each
//!   read in key order, every column named on both sides, in batches of [`BATCH`] rows (one
//!   `INSERT … SELECT FROM UNNEST` per batch). Booleans are integers in SQLite and `BOOLEAN` in PostgreSQL; everything else is
//!   text or a 64-bit integer on both sides, copied as is: event payloads byte for byte.
//! - Before committing, the row count of every table and every room's `last_seq`, event count
//!   and highest event `seq` are compared on both sides.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::TryStreamExt;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Connection, Row};

use super::postgres::PostgresStore;
use super::schema::{self, Kind, Table};

/// Rows per `INSERT` statement.
pub const BATCH: usize = 1000;

/// The tables, in the order they are copied (foreign keys point backwards only): those of
/// [`schema::TABLES`].
pub const TABLES: [&str; schema::TABLES.len()] = schema::names::<{ schema::TABLES.len() }>();

/// What was copied: rows per table, in [`TABLES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub source: PathBuf,
    pub tables: Vec<(&'static str, u64)>,
}

/// Row counts and per-room sequence numbers: what must be equal on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Summary {
    counts: BTreeMap<&'static str, i64>,
    /// Per room: `rooms.last_seq`.
    last_seq: BTreeMap<String, i64>,
    /// Per room with events: (event count, highest `seq`).
    events: BTreeMap<String, (i64, i64)>,
}

/// Resolves `--from`: a data dir (its `palaver.db`), a database file, or a `sqlite:` URL.
fn source_options(from: &str) -> anyhow::Result<SqliteConnectOptions> {
    if from.starts_with("postgres:") || from.starts_with("postgresql:") {
        bail!("--from is the SQLite store to copy (a data dir, a file or a sqlite:// URL), not {from}");
    }
    let options = if from.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(from).with_context(|| format!("reading --from {from}"))?
    } else {
        let path = Path::new(from);
        let file = if path.is_dir() {
            path.join("palaver.db")
        } else {
            path.to_path_buf()
        };
        SqliteConnectOptions::new().filename(file)
    };
    let file = options.get_filename().to_path_buf();
    if !file.is_file() {
        bail!("no SQLite store at {} (from --from {from})", file.display());
    }
    // Read-only: the source file is never written. No journal-mode pragma: that would be a write.
    Ok(options
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(5)))
}

/// Copies the SQLite store named by `from` into the empty PostgreSQL database at `to`, writing a
/// line per table to `out`. Nothing is written to the target unless everything copied and
/// verified.
pub async fn sqlite_to_postgres(
    from: &str,
    to: &str,
    out: &mut dyn Write,
) -> anyhow::Result<CopyReport> {
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to must be a PostgreSQL URL (postgres://user:password@host:5432/database)");
    }
    let options = source_options(from)?;
    let source_file = options.get_filename().to_path_buf();
    let mut src = SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening {} read-only", source_file.display()))?;
    check_source_schema(&mut src).await?;

    let mut pg = PgConnection::connect(to)
        .await
        .context("connecting to the PostgreSQL target")?;
    // Refuse before migrating, so a refused target is not touched at all.
    check_target_tables(&mut pg).await?;
    // The migrations: the same code that opens the store for a node.
    PostgresStore::open(to, 1)
        .await
        .context("opening the PostgreSQL target and running its migrations")?
        .close()
        .await;

    let mut tx = pg.begin().await?;
    // No node (or second copy) may write between the emptiness check and the commit.
    sqlx::query(&format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE NOWAIT",
        TABLES.join(", ")
    ))
    .execute(&mut *tx)
    .await
    .context("locking the target's tables (is a Palaver node running on it?)")?;
    refuse_rows(&pg_summary(&mut tx).await?.counts)?;

    // One read transaction on the source: every table from the same snapshot.
    let mut read = src.begin().await?;
    let before = sqlite_summary(&mut read).await?;
    writeln!(out, "copying {} into PostgreSQL", source_file.display())?;
    let mut tables = Vec::new();
    for table in schema::TABLES {
        let copied = copy_table(table, &mut read, &mut tx).await?;
        writeln!(out, "{:>9}: {copied} rows", table.name)?;
        tables.push((table.name, copied));
    }
    read.commit().await?;

    // Verify on both sides before committing.
    let after = pg_summary(&mut tx).await?;
    for (table, copied) in &tables {
        let want = before.counts[table];
        if *copied as i64 != want {
            bail!("{table}: read {copied} rows but the source counts {want}; nothing was written");
        }
    }
    if after != before {
        bail!(
            "verification failed, nothing was written: {}",
            differences(&before, &after)
        );
    }
    // A server still writing to the source would lose what it writes from now on: refuse.
    let now = sqlite_summary(&mut src).await?;
    if now != before {
        bail!(
            "the SQLite store changed while it was being copied (is a server still running on \
             it?); nothing was written. Stop the server and run the copy again"
        );
    }
    // Files (#12): the embedded store's blobs (files under the data dir) become the database's
    // `blob_chunks`, verified by length and SHA-256, in the same transaction.
    let blobs_dir = source_file
        .parent()
        .map(|dir| dir.join("files"))
        .unwrap_or_else(|| PathBuf::from("files"));
    let (blobs, bytes) = copy_blobs(&mut src, &blobs_dir, &mut tx).await?;
    writeln!(out, "    blobs: {blobs} files, {bytes} bytes")?;
    tx.commit().await.context("committing the copy")?;
    writeln!(
        out,
        "verified ({} rooms: counts, last_seq and highest event seq equal on both sides) and committed",
        before.last_seq.len()
    )?;
    Ok(CopyReport {
        source: source_file,
        tables,
    })
}

fn refuse_rows(counts: &BTreeMap<&'static str, i64>) -> anyhow::Result<()> {
    let held: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(table, n)| format!("{n} {table}"))
        .collect();
    if !held.is_empty() {
        bail!(
            "refusing to copy: the target database already holds data ({}). Copy into a new, \
             empty database, and start no node on it before the copy (a node seeds the default \
             rooms at start)",
            held.join(", ")
        );
    }
    Ok(())
}

/// Before anything is written to the target: it may hold Palaver's tables (empty) and nothing
/// else. Someone else's tables mean the wrong database; rows in Palaver's mean a used one.
async fn check_target_tables(pg: &mut PgConnection) -> anyhow::Result<()> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() ORDER BY table_name",
    )
    .fetch_all(&mut *pg)
    .await
    .context("listing the target's tables")?;
    let foreign: Vec<&str> = tables
        .iter()
        .map(String::as_str)
        .filter(|t| *t != "_sqlx_migrations" && !TABLES.contains(t))
        .collect();
    if !foreign.is_empty() {
        bail!(
            "refusing to copy: the target database holds tables that are not Palaver's ({}). \
             Copy into a new, empty database",
            foreign.join(", ")
        );
    }
    let mut counts = BTreeMap::new();
    for table in TABLES {
        if tables.iter().any(|t| t == table) {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&mut *pg)
                .await?;
            counts.insert(table, n);
        }
    }
    refuse_rows(&counts)
}

/// The source must be a Palaver store migrated exactly as far as this binary's SQLite
/// migrations go: otherwise its columns may not be the ones copied here.
async fn check_source_schema(src: &mut SqliteConnection) -> anyhow::Result<()> {
    let has_table: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *src)
    .await
    .context("reading the source (is it a SQLite database?)")?;
    if has_table == 0 {
        bail!("the source is not a Palaver store (it has no migrations table)");
    }
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut *src)
            .await?;
    let known: Vec<i64> = sqlx::migrate!("./migrations/sqlite")
        .iter()
        .map(|m| m.version)
        .collect();
    if applied != known {
        bail!(
            "the source's schema (migrations {applied:?}) is not this binary's ({known:?}): \
             start this version of palaver on it once (it migrates at start), stop it, then copy"
        );
    }
    Ok(())
}

/// The first few ways two summaries differ, for the error message.
fn differences(source: &Summary, target: &Summary) -> String {
    let mut out = Vec::new();
    for (table, n) in &source.counts {
        let m = target.counts.get(table).copied().unwrap_or(0);
        if *n != m {
            out.push(format!(
                "{table}: {n} rows in the source, {m} in the target"
            ));
        }
    }
    for (room, seq) in &source.last_seq {
        let other = target.last_seq.get(room);
        if other != Some(seq) {
            out.push(format!(
                "room {room}: last_seq {seq} in the source, {other:?} in the target"
            ));
        }
    }
    for (room, (n, max)) in &source.events {
        let other = target.events.get(room);
        if other != Some(&(*n, *max)) {
            out.push(format!(
                "room {room}: {n} events up to seq {max} in the source, (count, max) {other:?} in the target"
            ));
        }
    }
    if out.is_empty() {
        out.push("the target has rooms or events the source does not".to_string());
    }
    out.truncate(5);
    out.join("; ")
}

/// The same summary queries on either database (the SQL is identical; only the connection type
/// differs, and sqlx's generic bounds for that cost more than this macro).
macro_rules! summary {
    ($conn:expr) => {{
        let conn = $conn;
        let mut counts = BTreeMap::new();
        for table in TABLES {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&mut *conn)
                .await?;
            counts.insert(table, n);
        }
        let last_seq = sqlx::query_as::<_, (String, i64)>("SELECT id, last_seq FROM rooms")
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
        let events = sqlx::query_as::<_, (String, i64, i64)>(
            "SELECT room_id, COUNT(*), MAX(seq) FROM events GROUP BY room_id",
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(room, n, max)| (room, (n, max)))
        .collect();
        Ok(Summary {
            counts,
            last_seq,
            events,
        })
    }};
}

async fn sqlite_summary(src: &mut SqliteConnection) -> anyhow::Result<Summary> {
    summary!(src)
}

async fn pg_summary(pg: &mut PgConnection) -> anyhow::Result<Summary> {
    summary!(pg)
}

/// One table's columns, read by name from SQLite and bound as one array per column.
#[derive(Default)]
struct Columns {
    text: Vec<Vec<String>>,
    nullable: Vec<Vec<Option<String>>>,
    int: Vec<Vec<i64>>,
    boolean: Vec<Vec<bool>>,
    bytes: Vec<Vec<Vec<u8>>>,
}

impl Columns {
    fn new(table: &Table) -> Columns {
        let mut c = Columns::default();
        for column in table.columns {
            match column.kind {
                Kind::Text => c.text.push(Vec::with_capacity(BATCH)),
                Kind::NullableText => c.nullable.push(Vec::with_capacity(BATCH)),
                Kind::Int => c.int.push(Vec::with_capacity(BATCH)),
                Kind::Bool => c.boolean.push(Vec::with_capacity(BATCH)),
                Kind::Bytes => c.bytes.push(Vec::with_capacity(BATCH)),
            }
        }
        c
    }

    fn push(&mut self, table: &Table, row: &SqliteRow) -> anyhow::Result<()> {
        let (mut t, mut n, mut i, mut b, mut y) = (0, 0, 0, 0, 0);
        for column in table.columns {
            let name = column.name;
            let bad = |err: sqlx::Error| anyhow!("{}.{name}: unreadable value: {err}", table.name);
            match column.kind {
                Kind::Text => {
                    self.text[t].push(row.try_get(name).map_err(bad)?);
                    t += 1;
                }
                Kind::NullableText => {
                    self.nullable[n].push(row.try_get(name).map_err(bad)?);
                    n += 1;
                }
                Kind::Int => {
                    self.int[i].push(row.try_get(name).map_err(bad)?);
                    i += 1;
                }
                Kind::Bool => {
                    self.boolean[b].push(row.try_get::<i64, _>(name).map_err(bad)? != 0);
                    b += 1;
                }
                Kind::Bytes => {
                    self.bytes[y].push(row.try_get(name).map_err(bad)?);
                    y += 1;
                }
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.text.first().map_or(0, Vec::len)
    }

    /// `INSERT INTO table (c1, …) SELECT * FROM UNNEST($1::text[], …)` with the columns bound in
    /// table order, then empties the batch.
    async fn flush(&mut self, table: &Table, pg: &mut PgConnection) -> anyhow::Result<()> {
        if self.len() == 0 {
            return Ok(());
        }
        let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
        let arrays: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(k, column)| {
                let ty = match column.kind {
                    Kind::Text | Kind::NullableText => "text",
                    Kind::Int => "int8",
                    Kind::Bool => "bool",
                    Kind::Bytes => "bytea",
                };
                format!("${}::{ty}[]", k + 1)
            })
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) SELECT * FROM UNNEST({})",
            table.name,
            names.join(", "),
            arrays.join(", ")
        );
        let mut query = sqlx::query(&sql);
        let (mut t, mut n, mut i, mut b, mut y) = (0, 0, 0, 0, 0);
        for column in table.columns {
            query = match column.kind {
                Kind::Text => {
                    t += 1;
                    query.bind(std::mem::take(&mut self.text[t - 1]))
                }
                Kind::NullableText => {
                    n += 1;
                    query.bind(std::mem::take(&mut self.nullable[n - 1]))
                }
                Kind::Int => {
                    i += 1;
                    query.bind(std::mem::take(&mut self.int[i - 1]))
                }
                Kind::Bool => {
                    b += 1;
                    query.bind(std::mem::take(&mut self.boolean[b - 1]))
                }
                Kind::Bytes => {
                    y += 1;
                    query.bind(std::mem::take(&mut self.bytes[y - 1]))
                }
            };
        }
        query
            .execute(&mut *pg)
            .await
            .with_context(|| format!("inserting into {}", table.name))?;
        Ok(())
    }
}

/// Streams one table from the source snapshot into the target, in key order, [`BATCH`] rows
/// per statement.
async fn copy_table(
    table: &Table,
    src: &mut SqliteConnection,
    pg: &mut PgConnection,
) -> anyhow::Result<u64> {
    let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    let select = format!(
        "SELECT {} FROM {} ORDER BY {}",
        names.join(", "),
        table.name,
        table.key.join(", ")
    );
    let mut rows = sqlx::query(&select).fetch(&mut *src);
    let mut batch = Columns::new(table);
    let mut copied = 0u64;
    while let Some(row) = rows
        .try_next()
        .await
        .with_context(|| format!("reading {} from the source", table.name))?
    {
        batch.push(table, &row)?;
        copied += 1;
        if batch.len() >= BATCH {
            batch.flush(table, pg).await?;
        }
    }
    batch.flush(table, pg).await?;
    Ok(copied)
}

/// Copies every blob the source's files name (their bytes and thumbnails) from `dir` into the
/// target's `blob_chunks`, streamed a chunk at a time, each checked against its SHA-256; answers
/// (blobs, bytes). A blob missing on disk fails the copy.
async fn copy_blobs(
    src: &mut SqliteConnection,
    dir: &Path,
    pg: &mut PgConnection,
) -> anyhow::Result<(u64, u64)> {
    use sha2::{Digest, Sha256};
    use tokio::io::AsyncReadExt;
    let shas: Vec<String> = sqlx::query_scalar(
        "SELECT sha256 FROM files UNION SELECT thumb_sha256 FROM files \
         WHERE thumb_sha256 IS NOT NULL ORDER BY 1",
    )
    .fetch_all(&mut *src)
    .await
    .context("listing the files' blobs")?;
    let (mut blobs, mut bytes) = (0u64, 0u64);
    let at = super::now();
    for sha in shas {
        if !super::blobs::valid_sha256(&sha) {
            bail!("a file names a blob {sha:?}, which is not a SHA-256");
        }
        let path = dir.join(&sha[..2]).join(&sha);
        let mut file = tokio::fs::File::open(&path)
            .await
            .with_context(|| format!("opening the blob {}", path.display()))?;
        let mut hash = Sha256::new();
        let mut buffer = vec![0u8; super::blobs::CHUNK];
        let mut n: i64 = 0;
        loop {
            let mut filled = 0;
            while filled < buffer.len() {
                let read = file.read(&mut buffer[filled..]).await?;
                if read == 0 {
                    break;
                }
                filled += read;
            }
            if filled == 0 && n > 0 {
                break;
            }
            hash.update(&buffer[..filled]);
            sqlx::query("INSERT INTO blob_chunks (blob_key, n, data, at) VALUES ($1, $2, $3, $4)")
                .bind(&sha)
                .bind(n)
                .bind(&buffer[..filled])
                .bind(&at)
                .execute(&mut *pg)
                .await
                .with_context(|| format!("copying the blob {sha}"))?;
            bytes += filled as u64;
            n += 1;
            if filled < buffer.len() {
                break;
            }
        }
        let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if digest != sha {
            bail!(
                "the blob {} does not hold what its name says; nothing was written",
                path.display()
            );
        }
        blobs += 1;
    }
    Ok((blobs, bytes))
}
