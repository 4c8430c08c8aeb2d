//! The embedded store: one SQLite file in WAL mode.
//!
//! Writes go through a pool of exactly one connection, so write transactions queue in process
//! instead of spinning on SQLite's lock; reads use a separate pool and never wait for writes (WAL).
//! `synchronous = NORMAL` in WAL mode keeps every committed transaction across a process crash.
//! Sends, the hot path, are group-committed: a task takes every send waiting into one
//! transaction and acknowledges each only after it commits (see [`sqlite_commit`]).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::sqlite_checkpoint;
use super::sqlite_commit::{self, SendJob};
use super::{
    failed_ticket, position, ticket, MessagesPage, PublishSlot, Publisher, RoomPatch, SendRequest,
    SendTicket, SessionRecord, Store, StoredEvent, UserRecord,
};
use crate::error::{Error, Result};
use crate::protocol::{Event, EventKind, Message, Rearrange, Role, Room, User};

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Sends go to the group-commit thread (see [`sqlite_commit`]).
    sends: mpsc::UnboundedSender<SendJob>,
    /// Where the group-commit thread hands committed sends.
    publish: PublishSlot,
    /// Checkpoints the log, until the store is closed or dropped.
    checkpointer: std::sync::Mutex<Option<sqlite_checkpoint::Checkpointer>>,
}

/// Columns of a message joined with its author, in the order [`message_from_row`] reads them.
const MESSAGE_COLUMNS: &str = "m.id, m.room_id, m.seq, m.body, m.client_id, m.created_at, \
     m.edited_at, m.position, u.id AS author_id, u.username, u.guest";

const ROOM_COLUMNS: &str =
    "r.id, r.name, r.topic, r.owner_id, r.rearrange, r.last_seq, r.created_at, \
     (SELECT COUNT(*) FROM members mb WHERE mb.room_id = r.id) AS member_count";

impl SqliteStore {
    /// Opens (creating if needed) `palaver.db` in `data_dir` and brings its schema up to date.
    pub async fn open_in(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let url = format!("sqlite://{}", data_dir.join("palaver.db").display());
        Self::open(&url).await
    }

    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Checkpoints run on a thread of their own (see [`sqlite_checkpoint`]); the writer
        // checkpoints only when the log has grown far past what that thread leaves in it.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().pragma(
                "wal_autocheckpoint",
                sqlite_checkpoint::WRITER_AUTOCHECKPOINT_PAGES.to_string(),
            ))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let (sends, jobs) = mpsc::unbounded_channel();
        let publish = PublishSlot::default();
        sqlite_commit::start(writer.clone(), jobs, publish.clone())?;
        // A database in memory has no log to checkpoint: its journal mode stays `memory`.
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&writer)
            .await?;
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&writer)
                .await?;
        let checkpointer = match journal.eq_ignore_ascii_case("wal") && !file.is_empty() {
            true => Some(sqlite_checkpoint::start(Path::new(&file))?),
            false => None,
        };
        Ok(SqliteStore {
            writer,
            reader,
            sends,
            publish,
            checkpointer: std::sync::Mutex::new(checkpointer),
        })
    }

    pub async fn close(&self) {
        let checkpointer = self.checkpointer.lock().unwrap().take();
        if let Some(checkpointer) = checkpointer {
            let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn db_err(err: sqlx::Error) -> Error {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Error::Unavailable(err.into())
        }
        other => Error::Internal(other.into()),
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn user_from_row(row: &SqliteRow, id_col: &str) -> User {
    User {
        id: row.get(id_col),
        username: row.get("username"),
        guest: row.get::<i64, _>("guest") != 0,
    }
}

fn message_from_row(row: &SqliteRow) -> Message {
    Message {
        id: row.get("id"),
        room_id: row.get("room_id"),
        seq: row.get::<i64, _>("seq") as u64,
        author: user_from_row(row, "author_id"),
        body: row.get("body"),
        client_id: row.get("client_id"),
        created_at: row.get("created_at"),
        edited_at: row.get("edited_at"),
        position: row.get("position"),
    }
}

fn room_from_row(row: &SqliteRow) -> Room {
    let rearrange: String = row.get("rearrange");
    Room {
        id: row.get("id"),
        name: row.get("name"),
        topic: row.get("topic"),
        owner_id: row.get("owner_id"),
        member_count: row.get::<i64, _>("member_count") as u64,
        online_count: 0,
        last_seq: row.get::<i64, _>("last_seq") as u64,
        rearrange: Rearrange::parse(&rearrange).unwrap_or(Rearrange::Anyone),
        created_at: row.get("created_at"),
    }
}

/// Takes the room's next `seq`; `RoomNotFound` when the room is gone. Must run inside the
/// transaction that appends the event.
async fn next_seq(conn: &mut SqliteConnection, room_id: &str) -> Result<u64> {
    let seq: Option<i64> = sqlx::query_scalar(
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ? AND deleted = 0 RETURNING last_seq",
    )
    .bind(room_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    seq.map(|s| s as u64).ok_or(Error::RoomNotFound)
}

async fn insert_event(
    conn: &mut SqliteConnection,
    event: &Event,
    message_id: Option<&str>,
) -> Result<StoredEvent> {
    let stored = StoredEvent::new(event);
    sqlx::query("INSERT INTO events (room_id, seq, message_id, payload) VALUES (?, ?, ?, ?)")
        .bind(&stored.room_id)
        .bind(stored.seq as i64)
        .bind(message_id)
        .bind(&stored.json)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(stored)
}

/// Appends one event of `kind` with the room's next seq.
async fn append(
    conn: &mut SqliteConnection,
    room_id: &str,
    kind: EventKind,
    message_id: Option<&str>,
) -> Result<StoredEvent> {
    let seq = next_seq(conn, room_id).await?;
    let event = Event {
        room_id: room_id.to_string(),
        seq,
        at: now(),
        kind,
    };
    insert_event(conn, &event, message_id).await
}

async fn room_in(conn: &mut SqliteConnection, room_id: &str) -> Result<Room> {
    let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = ? AND r.deleted = 0");
    sqlx::query(&sql)
        .bind(room_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .map(|row| room_from_row(&row))
        .ok_or(Error::RoomNotFound)
}

async fn message_in(
    conn: &mut SqliteConnection,
    room_id: &str,
    message_id: &str,
) -> Result<Message> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.author_id \
         WHERE m.id = ? AND m.room_id = ? AND m.deleted = 0"
    );
    sqlx::query(&sql)
        .bind(message_id)
        .bind(room_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .map(|row| message_from_row(&row))
        .ok_or(Error::MessageNotFound)
}

/// Adds the user to the room if needed: the `member.joined` event, or `None`.
async fn join_in(
    conn: &mut SqliteConnection,
    room_id: &str,
    user: &User,
) -> Result<Option<StoredEvent>> {
    let inserted = sqlx::query(
        "INSERT INTO members (room_id, user_id, role, joined_at) \
         SELECT ?, ?, 'member', ? WHERE EXISTS (SELECT 1 FROM rooms WHERE id = ? AND deleted = 0) \
         ON CONFLICT (room_id, user_id) DO NOTHING",
    )
    .bind(room_id)
    .bind(&user.id)
    .bind(now())
    .bind(room_id)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?
    .rows_affected();
    if inserted == 0 {
        // Either a member already, or no such room: tell them apart.
        room_in(conn, room_id).await?;
        return Ok(None);
    }
    let event = append(
        conn,
        room_id,
        EventKind::MemberJoined { user: user.clone() },
        None,
    )
    .await?;
    Ok(Some(event))
}

/// Erases the text of a message from the events that carried it (`message.created`/`edited`).
async fn erase_bodies(conn: &mut SqliteConnection, message_ids: &[String]) -> Result<()> {
    for message_id in message_ids {
        let rows = sqlx::query("SELECT room_id, seq, payload FROM events WHERE message_id = ?")
            .bind(message_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        for row in rows {
            let payload: String = row.get("payload");
            let mut event: Event = serde_json::from_str(&payload)
                .map_err(|err| Error::Internal(anyhow::anyhow!("unreadable event: {err}")))?;
            if let EventKind::MessageCreated { message } | EventKind::MessageEdited { message } =
                &mut event.kind
            {
                message.body.clear();
            }
            sqlx::query("UPDATE events SET payload = ? WHERE room_id = ? AND seq = ?")
                .bind(StoredEvent::new(&event).json)
                .bind(row.get::<String, _>("room_id"))
                .bind(row.get::<i64, _>("seq"))
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn seed_default_rooms(&self, names: &[&str]) -> Result<()> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let any: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rooms")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if any == 0 {
            for name in names {
                sqlx::query(
                    "INSERT INTO rooms (id, name, name_key, topic, created_at) VALUES (?, ?, ?, '', ?)",
                )
                .bind(new_id())
                .bind(name)
                .bind(name.to_lowercase())
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: Option<&str>,
        guest: bool,
    ) -> Result<User> {
        let user = User {
            id: new_id(),
            username: username.to_string(),
            guest,
        };
        let result = sqlx::query(
            "INSERT INTO users (id, username, username_key, password_hash, guest, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(username.to_lowercase())
        .bind(password_hash)
        .bind(guest as i64)
        .bind(now())
        .execute(&self.writer)
        .await;
        match result {
            Ok(_) => Ok(user),
            Err(err) if is_unique_violation(&err) => Err(Error::UsernameTaken),
            Err(err) => Err(db_err(err)),
        }
    }

    async fn usernames(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT username FROM users")
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)
    }

    async fn find_user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT id, username, guest, password_hash FROM users WHERE username_key = ?",
        )
        .bind(username.to_lowercase())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(row.map(|row| UserRecord {
            user: user_from_row(&row, "id"),
            password_hash: row.get("password_hash"),
        }))
    }

    async fn create_session(&self, token_hash: &str, user_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(user_id)
            .bind(now())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_session_until(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now())
        .bind(expires_at)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.guest, s.expires_at FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ? AND (s.expires_at IS NULL OR s.expires_at > ?)",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(row.map(|row| SessionRecord {
            user: user_from_row(&row, "id"),
            expires_at: row.get("expires_at"),
        }))
    }

    async fn delete_expired_sessions(&self) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_rooms(&self) -> Result<Vec<Room>> {
        let sql = format!(
            "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.deleted = 0 ORDER BY r.created_at, r.id"
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(room_from_row).collect())
    }

    async fn get_room(&self, room_id: &str) -> Result<Room> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        room_in(&mut conn, room_id).await
    }

    async fn create_room(
        &self,
        name: &str,
        topic: &str,
        owner: &User,
    ) -> Result<(Room, Vec<StoredEvent>)> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let id = new_id();
        let result = sqlx::query(
            "INSERT INTO rooms (id, name, name_key, topic, owner_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(topic)
        .bind(&owner.id)
        .bind(now())
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => return Err(Error::RoomNameTaken),
            Err(err) => return Err(db_err(err)),
        }
        sqlx::query(
            "INSERT INTO members (room_id, user_id, role, joined_at) VALUES (?, ?, 'owner', ?)",
        )
        .bind(&id)
        .bind(&owner.id)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let joined = append(
            &mut tx,
            &id,
            EventKind::MemberJoined {
                user: owner.clone(),
            },
            None,
        )
        .await?;
        let room = room_in(&mut tx, &id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok((room, vec![joined]))
    }

    async fn update_room(&self, room_id: &str, patch: &RoomPatch) -> Result<(Room, StoredEvent)> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let current = room_in(&mut tx, room_id).await?;
        let name = patch.name.clone().unwrap_or(current.name);
        let result = sqlx::query(
            "UPDATE rooms SET name = ?, name_key = ?, topic = ?, rearrange = ? WHERE id = ?",
        )
        .bind(&name)
        .bind(name.to_lowercase())
        .bind(patch.topic.as_ref().unwrap_or(&current.topic))
        .bind(patch.rearrange.unwrap_or(current.rearrange).as_str())
        .bind(room_id)
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => return Err(Error::RoomNameTaken),
            Err(err) => return Err(db_err(err)),
        }
        // The event's room carries the seq of the event itself.
        let seq = next_seq(&mut tx, room_id).await?;
        let room = room_in(&mut tx, room_id).await?;
        let event = Event {
            room_id: room_id.to_string(),
            seq,
            at: now(),
            kind: EventKind::RoomUpdated { room: room.clone() },
        };
        let stored = insert_event(&mut tx, &event, None).await?;
        tx.commit().await.map_err(db_err)?;
        Ok((room, stored))
    }

    async fn delete_room(&self, room_id: &str) -> Result<StoredEvent> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        room_in(&mut tx, room_id).await?;
        for sql in [
            "DELETE FROM members WHERE room_id = ?",
            "DELETE FROM events WHERE room_id = ?",
            "UPDATE messages SET body = '', deleted = 1 WHERE room_id = ?",
        ] {
            sqlx::query(sql)
                .bind(room_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let event = append(&mut tx, room_id, EventKind::RoomDeleted {}, None).await?;
        sqlx::query("UPDATE rooms SET deleted = 1 WHERE id = ?")
            .bind(room_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(event)
    }

    async fn join_room(&self, room_id: &str, user: &User) -> Result<Option<StoredEvent>> {
        // Most joins are of members already there: answer those without taking the write lock.
        if self.role(room_id, &user.id).await?.is_some() {
            return Ok(None);
        }
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let event = join_in(&mut tx, room_id, user).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(event)
    }

    async fn leave_room(&self, room_id: &str, user: &User) -> Result<Option<StoredEvent>> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        room_in(&mut tx, room_id).await?;
        let removed = sqlx::query("DELETE FROM members WHERE room_id = ? AND user_id = ?")
            .bind(room_id)
            .bind(&user.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        let event = if removed > 0 {
            Some(
                append(
                    &mut tx,
                    room_id,
                    EventKind::MemberLeft { user: user.clone() },
                    None,
                )
                .await?,
            )
        } else {
            None
        };
        tx.commit().await.map_err(db_err)?;
        Ok(event)
    }

    async fn members(&self, room_id: &str) -> Result<Vec<(User, Role)>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        room_in(&mut conn, room_id).await?;
        let rows = sqlx::query(
            "SELECT u.id, u.username, u.guest, mb.role FROM members mb JOIN users u ON u.id = mb.user_id \
             WHERE mb.room_id = ? ORDER BY mb.joined_at, u.id",
        )
        .bind(room_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|row| {
                let role: String = row.get("role");
                (
                    user_from_row(row, "id"),
                    Role::parse(&role).unwrap_or(Role::Member),
                )
            })
            .collect())
    }

    async fn role(&self, room_id: &str, user_id: &str) -> Result<Option<Role>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM members WHERE room_id = ? AND user_id = ?")
                .bind(room_id)
                .bind(user_id)
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        Ok(role.and_then(|r| Role::parse(&r)))
    }

    fn submit_send(&self, request: SendRequest) -> SendTicket {
        let (reply, answer) = oneshot::channel();
        // Unbounded, so that taking the job never waits and jobs queue in call order. What
        // bounds it is upstream: each connection's sends in flight, and the per-user rate limit.
        if self.sends.send(SendJob { request, reply }).is_err() {
            return failed_ticket(Error::Unavailable(anyhow::anyhow!("the store is closed")));
        }
        ticket(answer)
    }

    fn publish_sends(&self, publish: Publisher) -> bool {
        self.publish.install(publish)
    }

    async fn get_message(&self, room_id: &str, message_id: &str) -> Result<Message> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        message_in(&mut conn, room_id, message_id).await
    }

    async fn edit_message(
        &self,
        room_id: &str,
        message_id: &str,
        body: &str,
    ) -> Result<(Message, StoredEvent)> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let mut message = message_in(&mut tx, room_id, message_id).await?;
        message.body = body.to_string();
        message.edited_at = Some(now());
        sqlx::query("UPDATE messages SET body = ?, edited_at = ? WHERE id = ?")
            .bind(body)
            .bind(&message.edited_at)
            .bind(message_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let event = append(
            &mut tx,
            room_id,
            EventKind::MessageEdited {
                message: message.clone(),
            },
            Some(message_id),
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok((message, event))
    }

    async fn delete_message(&self, room_id: &str, message_id: &str) -> Result<StoredEvent> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        message_in(&mut tx, room_id, message_id).await?;
        sqlx::query("UPDATE messages SET body = '', deleted = 1 WHERE id = ?")
            .bind(message_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        erase_bodies(&mut tx, &[message_id.to_string()]).await?;
        let event = append(
            &mut tx,
            room_id,
            EventKind::MessageDeleted {
                message_id: message_id.to_string(),
            },
            None,
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(event)
    }

    async fn move_message(
        &self,
        room_id: &str,
        message_id: &str,
        after: Option<&str>,
    ) -> Result<(Message, Vec<StoredEvent>)> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let mut message = message_in(&mut tx, room_id, message_id).await?;
        if after == Some(message_id) {
            return Err(Error::InvalidRequest(
                "a message can't move after itself".into(),
            ));
        }
        let mut events = Vec::new();
        let mut key = key_after(&mut tx, room_id, message_id, after).await?;
        if key.len() > position::MAX_KEY_LEN {
            // Moves into the same gap have made keys long: respace the whole room (one
            // `message.moved` per message that changes place) and compute the key again.
            events = respace(&mut tx, room_id).await?;
            key = key_after(&mut tx, room_id, message_id, after).await?;
        }
        sqlx::query("UPDATE messages SET position = ? WHERE id = ?")
            .bind(&key)
            .bind(message_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        message.position = key.clone();
        events.push(
            append(
                &mut tx,
                room_id,
                EventKind::MessageMoved {
                    message_id: message_id.to_string(),
                    position: key,
                    after: after.map(str::to_string),
                },
                None,
            )
            .await?,
        );
        tx.commit().await.map_err(db_err)?;
        Ok((message, events))
    }

    async fn clear_room(&self, room_id: &str, by: &User) -> Result<StoredEvent> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        room_in(&mut tx, room_id).await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM messages WHERE room_id = ? AND deleted = 0")
                .bind(room_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        sqlx::query("UPDATE messages SET body = '', deleted = 1 WHERE room_id = ? AND deleted = 0")
            .bind(room_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        erase_bodies(&mut tx, &ids).await?;
        let event = append(
            &mut tx,
            room_id,
            EventKind::RoomCleared { by: by.clone() },
            None,
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(event)
    }

    async fn messages_before(
        &self,
        room_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        room_in(&mut conn, room_id).await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.author_id \
             WHERE m.room_id = ? AND m.deleted = 0 AND (? IS NULL OR m.position < ?) \
             ORDER BY m.position DESC LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(room_id)
            .bind(before)
            .bind(before)
            .bind(limit as i64 + 1)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        let has_more = rows.len() > limit as usize;
        let mut messages: Vec<Message> = rows
            .iter()
            .take(limit as usize)
            .map(message_from_row)
            .collect();
        messages.reverse();
        Ok(MessagesPage { messages, has_more })
    }

    async fn events_after(
        &self,
        room_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT seq, payload FROM events WHERE room_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(room_id)
        .bind(after as i64)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|row| StoredEvent {
                room_id: room_id.to_string(),
                seq: row.get::<i64, _>("seq") as u64,
                json: row.get("payload"),
            })
            .collect())
    }

    async fn last_seq(&self, room_id: &str) -> Result<u64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = ?")
            .bind(room_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        seq.map(|s| s as u64).ok_or(Error::RoomNotFound)
    }
}

/// A position for `message_id` just after `after` (`None`: the top): between that message and
/// the one below it, not counting the message being moved.
async fn key_after(
    conn: &mut SqliteConnection,
    room_id: &str,
    message_id: &str,
    after: Option<&str>,
) -> Result<String> {
    let low = match after {
        Some(after_id) => Some(message_in(conn, room_id, after_id).await?.position),
        None => None,
    };
    let high: Option<String> = sqlx::query_scalar(
        "SELECT MIN(position) FROM messages WHERE room_id = ? AND deleted = 0 AND id != ? \
         AND (? IS NULL OR position > ?)",
    )
    .bind(room_id)
    .bind(message_id)
    .bind(&low)
    .bind(&low)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(position::between(low.as_deref(), high.as_deref()))
}

/// Gives every live message of the room a fresh, short key in its current order, appending a
/// `message.moved` event for each one whose key changed.
async fn respace(conn: &mut SqliteConnection, room_id: &str) -> Result<Vec<StoredEvent>> {
    let rows = sqlx::query(
        "SELECT id, position FROM messages WHERE room_id = ? AND deleted = 0 ORDER BY position",
    )
    .bind(room_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let keys = position::spread(rows.len());
    // Park every key out of the way first: the unique index must hold after each statement.
    sqlx::query("UPDATE messages SET position = '~' || position WHERE room_id = ? AND deleted = 0")
        .bind(room_id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let mut events = Vec::new();
    let mut previous: Option<String> = None;
    for (row, key) in rows.iter().zip(keys) {
        let id: String = row.get("id");
        let old: String = row.get("position");
        sqlx::query("UPDATE messages SET position = ? WHERE id = ?")
            .bind(&key)
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        if old != key {
            let kind = EventKind::MessageMoved {
                message_id: id.clone(),
                position: key,
                after: previous.clone(),
            };
            events.push(append(conn, room_id, kind, None).await?);
        }
        previous = Some(id);
    }
    Ok(events)
}
