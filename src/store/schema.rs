//! The tables, described once: each table's name, its columns (with their type on both sides)
//! and its key, in foreign-key order (a table's foreign keys point only at tables before it).
//!
//! The migrations (`migrations/sqlite`, `migrations/postgres`) make these tables, one set per
//! dialect; this description is what the rest of the code follows, `copy-to-postgres` first
//! (see [`super::copy`]), and a test checks that it names every table and column the SQLite
//! migrations make, no more and no fewer. A new table: its migrations, and a line here.
//!
//! The search index is not described: it is derived from `messages` (SQLite's FTS5 table
//! `message_search` and its shadow tables; PostgreSQL's generated column `messages.search`),
//! never copied, and rebuilt by `palaver reindex`.

/// A column's type on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `TEXT NOT NULL` on both sides.
    Text,
    /// `TEXT` (nullable) on both sides.
    NullableText,
    /// `INTEGER` in SQLite, `BIGINT` in PostgreSQL.
    Int,
    /// `INTEGER` 0/1 in SQLite, `BOOLEAN` in PostgreSQL.
    Bool,
    /// `BLOB NOT NULL` in SQLite, `BYTEA NOT NULL` in PostgreSQL.
    Bytes,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// The primary key's columns, in key order.
    pub key: &'static [&'static str],
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

use Kind::*;

/// Every table, in foreign-key order.
pub const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            col("id", Text),
            col("username", Text),
            col("username_key", Text),
            col("password_hash", NullableText),
            col("guest", Bool),
            col("created_at", Text),
            col("admin", Bool),
            col("display_name", NullableText),
            col("bio", Text),
            col("timezone", NullableText),
            col("display_key", NullableText),
            col("released_at", NullableText),
            col("retired_at", NullableText),
            col("bot", Bool),
        ],
        key: &["id"],
    },
    Table {
        name: "sessions",
        columns: &[
            col("token_hash", Text),
            col("user_id", Text),
            col("created_at", Text),
            col("expires_at", NullableText),
            col("id", Text),
            col("last_seen_at", NullableText),
        ],
        key: &["token_hash"],
    },
    Table {
        name: "rooms",
        columns: &[
            col("id", Text),
            col("name", Text),
            col("name_key", Text),
            col("topic", Text),
            col("owner_id", NullableText),
            col("rearrange", Text),
            col("last_seq", Int),
            col("deleted", Bool),
            col("created_at", Text),
            col("kind", Text),
            col("dm_key", NullableText),
            col("pins", Text),
            col("mention_everyone", Text),
        ],
        key: &["id"],
    },
    Table {
        name: "members",
        columns: &[
            col("room_id", Text),
            col("user_id", Text),
            col("role", Text),
            col("joined_at", Text),
        ],
        key: &["room_id", "user_id"],
    },
    Table {
        name: "invites",
        columns: &[
            col("code_hash", Text),
            col("room_id", Text),
            col("created_by", Text),
            col("created_at", Text),
            col("expires_at", NullableText),
            col("max_uses", Int),
            col("uses", Int),
        ],
        key: &["code_hash"],
    },
    Table {
        name: "messages",
        columns: &[
            col("id", Text),
            col("room_id", Text),
            col("seq", Int),
            col("author_id", Text),
            col("client_id", Text),
            col("body", Text),
            col("position", Text),
            col("created_at", Text),
            col("edited_at", NullableText),
            col("deleted", Bool),
            col("reply_to", NullableText),
            col("thread_id", NullableText),
            col("reply_count", Int),
            col("last_reply_at", NullableText),
            col("mentions", Text),
            // Files (#12).
            col("attachments", NullableText),
        ],
        key: &["id"],
    },
    Table {
        name: "events",
        columns: &[
            col("room_id", Text),
            col("seq", Int),
            col("message_id", NullableText),
            col("payload", Text),
        ],
        key: &["room_id", "seq"],
    },
    Table {
        name: "bots",
        columns: &[
            col("user_id", Text),
            col("owner_id", Text),
            col("scoped", Bool),
            col("created_at", Text),
        ],
        key: &["user_id"],
    },
    Table {
        name: "bot_rooms",
        columns: &[col("bot_id", Text), col("room_id", Text)],
        key: &["bot_id", "room_id"],
    },
    Table {
        name: "webhooks",
        columns: &[
            col("id", Text),
            col("room_id", Text),
            col("user_id", Text),
            col("name", Text),
            col("secret_hash", Text),
            col("created_by", Text),
            col("created_at", Text),
        ],
        key: &["id"],
    },
    Table {
        name: "sanctions",
        columns: &[
            col("room_id", Text),
            col("user_id", Text),
            col("kind", Text),
            col("by_id", Text),
            col("created_at", Text),
            col("expires_at", NullableText),
        ],
        key: &["room_id", "user_id", "kind"],
    },
    Table {
        name: "reports",
        columns: &[
            col("id", Text),
            col("room_id", Text),
            col("message_id", Text),
            col("reporter_id", Text),
            col("reason", Text),
            col("created_at", Text),
        ],
        key: &["id"],
    },
    Table {
        name: "audit_log",
        columns: &[
            col("id", Text),
            col("at", Text),
            col("actor_id", Text),
            col("action", Text),
            col("room_id", NullableText),
            col("target_user_id", NullableText),
            col("detail", Text),
        ],
        key: &["id"],
    },
    // Reactions and pins (issue #10).
    Table {
        name: "reactions",
        columns: &[
            col("message_id", Text),
            col("emoji", Text),
            col("user_id", Text),
            col("room_id", Text),
            col("seq", Int),
        ],
        key: &["message_id", "emoji", "user_id"],
    },
    Table {
        name: "pins",
        columns: &[
            col("message_id", Text),
            col("room_id", Text),
            col("by_id", Text),
            col("pinned_at", Text),
            col("seq", Int),
        ],
        key: &["message_id"],
    },
    // Mentions, read markers, notification levels, Web Push (issue #10).
    Table {
        name: "mentions",
        columns: &[
            col("user_id", Text),
            col("room_id", Text),
            col("seq", Int),
            col("message_id", Text),
        ],
        key: &["user_id", "room_id", "seq"],
    },
    Table {
        name: "read_state",
        columns: &[
            col("user_id", Text),
            col("room_id", Text),
            col("last_read_seq", Int),
            col("notifications", NullableText),
        ],
        key: &["user_id", "room_id"],
    },
    Table {
        name: "push_subscriptions",
        columns: &[
            col("endpoint", Text),
            col("user_id", Text),
            col("p256dh", Text),
            col("auth", Text),
            col("created_at", Text),
        ],
        key: &["endpoint"],
    },
    Table {
        name: "server_keys",
        columns: &[
            col("name", Text),
            col("value", Text),
            col("created_at", Text),
        ],
        key: &["name"],
    },
    // Files (#12).
    Table {
        name: "files",
        columns: &[
            col("id", Text),
            col("owner_id", Text),
            col("name", Text),
            col("size", Int),
            col("content_type", Text),
            col("sha256", Text),
            col("width", Int),
            col("height", Int),
            col("thumb_sha256", NullableText),
            col("message_id", NullableText),
            col("room_id", NullableText),
            col("created_at", Text),
        ],
        key: &["id"],
    },
    Table {
        name: "blob_trash",
        columns: &[col("sha256", Text), col("at", Text)],
        key: &["sha256"],
    },
    Table {
        name: "blob_chunks",
        columns: &[
            col("blob_key", Text),
            col("n", Int),
            col("data", Bytes),
            col("at", Text),
        ],
        key: &["blob_key", "n"],
    },
];

/// The names of the first `N` tables (all of them for `N` = [`TABLES`]`.len()`), in order.
pub const fn names<const N: usize>() -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = TABLES[i].name;
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Kind, TABLES};
    use crate::store::sqlite::SqliteStore;

    /// What the SQLite migrations make: every table (but sqlx's own) with its columns, their
    /// declared types, whether they may be NULL and their place in the primary key.
    type Found = BTreeMap<String, Vec<(String, String, bool, i64)>>;

    /// A SQLite store just migrated, and a connection to it.
    async fn migrated() -> (tempfile::TempDir, sqlx::SqliteConnection) {
        use sqlx::Connection;
        let dir = tempfile::tempdir().unwrap();
        SqliteStore::open_in(dir.path())
            .await
            .unwrap()
            .close()
            .await;
        let url = format!("sqlite://{}", dir.path().join("palaver.db").display());
        let conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        (dir, conn)
    }

    async fn sqlite_tables(conn: &mut sqlx::SqliteConnection) -> Found {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' \
             AND name NOT LIKE 'message_search%' ORDER BY name",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let mut found = Found::new();
        for name in names {
            let columns: Vec<(String, String, bool, i64)> = sqlx::query_as(
                "SELECT name, type, \"notnull\" = 0, pk FROM pragma_table_info(?) ORDER BY cid",
            )
            .bind(&name)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            found.insert(name, columns);
        }
        found
    }

    /// The description names exactly the tables and columns the SQLite migrations make, with
    /// their types and keys: a table or column added to the schema but not here fails this.
    #[tokio::test]
    async fn the_description_is_the_sqlite_schema() {
        let (_dir, mut conn) = migrated().await;
        let found = sqlite_tables(&mut conn).await;
        let described: Found = TABLES
            .iter()
            .map(|table| {
                let columns = table
                    .columns
                    .iter()
                    .map(|c| {
                        let ty = match c.kind {
                            Kind::Text | Kind::NullableText => "TEXT",
                            Kind::Int | Kind::Bool => "INTEGER",
                            Kind::Bytes => "BLOB",
                        };
                        let key = table.key.iter().position(|k| *k == c.name);
                        let key = key.map_or(0, |k| k as i64 + 1);
                        // SQLite lets a TEXT PRIMARY KEY (not WITHOUT ROWID) hold NULL.
                        let nullable = c.kind == Kind::NullableText
                            || (key > 0 && table.key.len() == 1 && c.kind == Kind::Text);
                        (c.name.to_string(), ty.to_string(), nullable, key)
                    })
                    .collect();
                (table.name.to_string(), columns)
            })
            .collect();
        assert_eq!(found, described);
    }

    /// Foreign keys point only at tables described before them: the order the copy follows.
    #[tokio::test]
    async fn tables_are_in_foreign_key_order() {
        let (_dir, mut conn) = migrated().await;
        for (i, table) in TABLES.iter().enumerate() {
            let targets: Vec<String> =
                sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list(?)")
                    .bind(table.name)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            for target in targets {
                let at = TABLES.iter().position(|t| t.name == target);
                assert!(
                    at.is_some_and(|at| at < i),
                    "{} points at {target}",
                    table.name
                );
            }
        }
        let names = super::names::<{ TABLES.len() }>();
        assert!(names.iter().zip(TABLES).all(|(name, t)| *name == t.name));
    }
}
