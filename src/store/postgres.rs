//! The cluster store: PostgreSQL, shared by every node.
//!
//! The same log as [`super::sqlite`], with one difference that matters: many writers on many
//! nodes. Every write transaction that touches a room first locks the room's row
//! ([`lock_room`]), so writers of one room queue on that lock and each takes the room's next
//! `seq` (`rooms.last_seq + 1`) in its own transaction: gap-free and in commit order. Writers of
//! different rooms don't wait for each other.
//!
//! A database that can't be reached (refused, reset, pool timed out) is
//! [`Error::Unavailable`] (503 `unavailable`): the pool opens new connections on the next
//! request, so the node recovers by itself when the database is back.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::{mpsc, oneshot};

use super::sqlite::{new_id, now};
use super::{
    failed_ticket, position, ticket, MessagesPage, PublishSlot, Publisher, RoomPatch, SendOutcome,
    SendRequest, SendTicket, SessionRecord, Store, StoredEvent, UserRecord,
};
use crate::error::{Error, Result};
use crate::protocol::{Event, EventKind, Message, Rearrange, Role, Room, User};

pub struct PostgresStore {
    pool: PgPool,
    /// Sends, by room (see [`send_lane`]).
    lanes: Vec<mpsc::UnboundedSender<SendJob>>,
    /// Where the lanes hand committed sends.
    publish: PublishSlot,
}

/// Columns of a message joined with its author, in the order [`message_from_row`] reads them.
const MESSAGE_COLUMNS: &str = "m.id, m.room_id, m.seq, m.body, m.client_id, m.created_at, \
     m.edited_at, m.position, u.id AS author_id, u.username, u.guest";

const ROOM_COLUMNS: &str =
    "r.id, r.name, r.topic, r.owner_id, r.rearrange, r.last_seq, r.created_at, \
     (SELECT COUNT(*) FROM members mb WHERE mb.room_id = r.id) AS member_count";

/// How long a request waits for a pooled connection before answering `unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl PostgresStore {
    /// Connects (`max_connections` pooled) and brings the schema up to date. The migrations take
    /// an advisory lock, so nodes starting together migrate once.
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("palaver");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let publish = PublishSlot::default();
        // Half the pool at most, so that reads and other writes always find a connection.
        let lanes = (0..(max_connections as usize / 2).clamp(1, MAX_LANES))
            .map(|_| {
                let (lane, jobs) = mpsc::unbounded_channel();
                tokio::spawn(send_lane(pool.clone(), jobs, publish.clone()));
                lane
            })
            .collect();
        Ok(PostgresStore {
            pool,
            lanes,
            publish,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// SQLSTATE classes that mean "the server went away", not "your query is wrong": connection
/// exceptions (08), operator intervention such as a shutdown (57P0x), insufficient resources (53).
fn is_unreachable_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")
}

fn db_err(err: sqlx::Error) -> Error {
    match &err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => Error::Unavailable(err.into()),
        sqlx::Error::Database(db) if db.code().is_some_and(|c| is_unreachable_code(&c)) => {
            Error::Unavailable(err.into())
        }
        // PostgreSQL text cannot hold a NUL character (SQLSTATE 22021): the client sent one.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => {
            Error::InvalidRequest("text may not contain NUL characters".into())
        }
        _ => Error::Internal(err.into()),
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn user_from_row(row: &PgRow, id_col: &str) -> User {
    User {
        id: row.get(id_col),
        username: row.get("username"),
        guest: row.get("guest"),
    }
}

fn message_from_row(row: &PgRow) -> Message {
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

fn room_from_row(row: &PgRow) -> Room {
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

/// Locks the room's row until the transaction ends: the writers of one room queue here, so what
/// they read (the last position, an existing `client_id`) is what they write after.
/// `RoomNotFound` when the room is missing or deleted.
async fn lock_room(conn: &mut PgConnection, room_id: &str) -> Result<()> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM rooms WHERE id = $1 AND NOT deleted FOR UPDATE")
            .bind(room_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    found.map(|_| ()).ok_or(Error::RoomNotFound)
}

/// Takes the room's next `seq`. Must run inside the transaction that appends the event.
async fn next_seq(conn: &mut PgConnection, room_id: &str) -> Result<u64> {
    let seq: Option<i64> = sqlx::query_scalar(
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 AND NOT deleted RETURNING last_seq",
    )
    .bind(room_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    seq.map(|s| s as u64).ok_or(Error::RoomNotFound)
}

async fn insert_event(
    conn: &mut PgConnection,
    event: &Event,
    message_id: Option<&str>,
) -> Result<StoredEvent> {
    let stored = StoredEvent::new(event);
    sqlx::query("INSERT INTO events (room_id, seq, message_id, payload) VALUES ($1, $2, $3, $4)")
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
    conn: &mut PgConnection,
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

async fn room_in(conn: &mut PgConnection, room_id: &str) -> Result<Room> {
    let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = $1 AND NOT r.deleted");
    sqlx::query(&sql)
        .bind(room_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .map(|row| room_from_row(&row))
        .ok_or(Error::RoomNotFound)
}

async fn message_in(conn: &mut PgConnection, room_id: &str, message_id: &str) -> Result<Message> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.author_id \
         WHERE m.id = $1 AND m.room_id = $2 AND NOT m.deleted"
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

/// Adds the user to the (locked) room if needed: the `member.joined` event, or `None`.
async fn join_in(
    conn: &mut PgConnection,
    room_id: &str,
    user: &User,
) -> Result<Option<StoredEvent>> {
    let inserted = sqlx::query(
        "INSERT INTO members (room_id, user_id, role, joined_at) VALUES ($1, $2, 'member', $3) \
         ON CONFLICT (room_id, user_id) DO NOTHING",
    )
    .bind(room_id)
    .bind(&user.id)
    .bind(now())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?
    .rows_affected();
    if inserted == 0 {
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
async fn erase_bodies(conn: &mut PgConnection, message_ids: &[String]) -> Result<()> {
    if message_ids.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query("SELECT room_id, seq, payload FROM events WHERE message_id = ANY($1)")
        .bind(message_ids)
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
        sqlx::query("UPDATE events SET payload = $1 WHERE room_id = $2 AND seq = $3")
            .bind(StoredEvent::new(&event).json)
            .bind(row.get::<String, _>("room_id"))
            .bind(row.get::<i64, _>("seq"))
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

async fn existing_send(
    conn: &mut PgConnection,
    author_id: &str,
    client_id: &str,
) -> Result<Option<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.author_id \
         WHERE m.author_id = $1 AND m.client_id = $2"
    );
    Ok(sqlx::query(&sql)
        .bind(author_id)
        .bind(client_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .map(|row| message_from_row(&row)))
}

/// The smallest live position after `low` (the whole room when `None`), not counting `except`.
async fn position_above(
    conn: &mut PgConnection,
    room_id: &str,
    except: &str,
    low: Option<&str>,
) -> Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT MIN(position) FROM messages WHERE room_id = $1 AND NOT deleted AND id <> $2 \
         AND ($3::text IS NULL OR position > $3)",
    )
    .bind(room_id)
    .bind(except)
    .bind(low)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn seed_default_rooms(&self, names: &[&str]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Nodes starting together: one seeds, the others wait here and then see its rooms.
        sqlx::query("SELECT pg_advisory_xact_lock(7011964)")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let any: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rooms")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if any == 0 {
            for name in names {
                sqlx::query(
                    "INSERT INTO rooms (id, name, name_key, topic, created_at) VALUES ($1, $2, $3, '', $4)",
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
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(username.to_lowercase())
        .bind(password_hash)
        .bind(guest)
        .bind(now())
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(user),
            Err(err) if is_unique_violation(&err) => Err(Error::UsernameTaken),
            Err(err) => Err(db_err(err)),
        }
    }

    async fn usernames(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT username FROM users")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn find_user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT id, username, guest, password_hash FROM users WHERE username_key = $1",
        )
        .bind(username.to_lowercase())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(|row| UserRecord {
            user: user_from_row(&row, "id"),
            password_hash: row.get("password_hash"),
        }))
    }

    async fn create_session(&self, token_hash: &str, user_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(user_id)
            .bind(now())
            .execute(&self.pool)
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
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now())
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.guest, s.expires_at FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND (s.expires_at IS NULL OR s.expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(|row| SessionRecord {
            user: user_from_row(&row, "id"),
            expires_at: row.get("expires_at"),
        }))
    }

    async fn delete_expired_sessions(&self) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_rooms(&self) -> Result<Vec<Room>> {
        let sql = format!(
            "SELECT {ROOM_COLUMNS} FROM rooms r WHERE NOT r.deleted ORDER BY r.created_at, r.id"
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(room_from_row).collect())
    }

    async fn get_room(&self, room_id: &str) -> Result<Room> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        room_in(&mut conn, room_id).await
    }

    async fn create_room(
        &self,
        name: &str,
        topic: &str,
        owner: &User,
    ) -> Result<(Room, Vec<StoredEvent>)> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let id = new_id();
        let result = sqlx::query(
            "INSERT INTO rooms (id, name, name_key, topic, owner_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
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
            "INSERT INTO members (room_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $3)",
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_room(&mut tx, room_id).await?;
        let current = room_in(&mut tx, room_id).await?;
        let name = patch.name.clone().unwrap_or(current.name);
        let result = sqlx::query(
            "UPDATE rooms SET name = $1, name_key = $2, topic = $3, rearrange = $4 WHERE id = $5",
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_room(&mut tx, room_id).await?;
        for sql in [
            "DELETE FROM members WHERE room_id = $1",
            "DELETE FROM events WHERE room_id = $1",
            "UPDATE messages SET body = '', deleted = TRUE WHERE room_id = $1",
        ] {
            sqlx::query(sql)
                .bind(room_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let event = append(&mut tx, room_id, EventKind::RoomDeleted {}, None).await?;
        sqlx::query("UPDATE rooms SET deleted = TRUE WHERE id = $1")
            .bind(room_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(event)
    }

    async fn join_room(&self, room_id: &str, user: &User) -> Result<Option<StoredEvent>> {
        // Most joins are of members already there: answer those without locking the room.
        if self.role(room_id, &user.id).await?.is_some() {
            return Ok(None);
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_room(&mut tx, room_id).await?;
        let event = join_in(&mut tx, room_id, user).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(event)
    }

    async fn leave_room(&self, room_id: &str, user: &User) -> Result<Option<StoredEvent>> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_room(&mut tx, room_id).await?;
        let removed = sqlx::query("DELETE FROM members WHERE room_id = $1 AND user_id = $2")
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
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        room_in(&mut conn, room_id).await?;
        let rows = sqlx::query(
            "SELECT u.id, u.username, u.guest, mb.role FROM members mb JOIN users u ON u.id = mb.user_id \
             WHERE mb.room_id = $1 ORDER BY mb.joined_at, u.id",
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
            sqlx::query_scalar("SELECT role FROM members WHERE room_id = $1 AND user_id = $2")
                .bind(room_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(role.and_then(|r| Role::parse(&r)))
    }

    fn submit_send(&self, request: SendRequest) -> SendTicket {
        let (reply, answer) = oneshot::channel();
        let lane = lane_of(&request.room_id, self.lanes.len());
        if self.lanes[lane].send(SendJob { request, reply }).is_err() {
            return failed_ticket(Error::Unavailable(anyhow::anyhow!("the store is closed")));
        }
        ticket(answer)
    }

    fn publish_sends(&self, publish: Publisher) -> bool {
        self.publish.install(publish)
    }

    async fn get_message(&self, room_id: &str, message_id: &str) -> Result<Message> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        message_in(&mut conn, room_id, message_id).await
    }

    async fn edit_message(
        &self,
        room_id: &str,
        message_id: &str,
        body: &str,
    ) -> Result<(Message, StoredEvent)> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_room(&mut tx, room_id).await?;
        let mut message = message_in(&mut tx, room_id, message_id).await?;
        message.body = body.to_string();
        message.edited_at = Some(now());
        sqlx::query("UPDATE messages SET body = $1, edited_at = $2 WHERE id = $3")
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_room(&mut tx, room_id).await?;
        message_in(&mut tx, room_id, message_id).await?;
        sqlx::query("UPDATE messages SET body = '', deleted = TRUE WHERE id = $1")
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_room(&mut tx, room_id).await?;
        let mut message = message_in(&mut tx, room_id, message_id).await?;
        let low = match after {
            Some(after_id) if after_id == message_id => {
                return Err(Error::InvalidRequest(
                    "a message can't move after itself".into(),
                ))
            }
            Some(after_id) => Some(message_in(&mut tx, room_id, after_id).await?.position),
            None => None,
        };
        let high = position_above(&mut tx, room_id, message_id, low.as_deref()).await?;
        let mut events = Vec::new();
        let mut key = position::between(low.as_deref(), high.as_deref());
        if key.len() > position::MAX_KEY_LEN {
            // Moves into the same gap have made keys long: respace the whole room and compute
            // the key again.
            events = respace(&mut tx, room_id).await?;
            let low = match after {
                Some(after_id) => Some(message_in(&mut tx, room_id, after_id).await?.position),
                None => None,
            };
            let high = position_above(&mut tx, room_id, message_id, low.as_deref()).await?;
            key = position::between(low.as_deref(), high.as_deref());
        }
        sqlx::query("UPDATE messages SET position = $1 WHERE id = $2")
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_room(&mut tx, room_id).await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM messages WHERE room_id = $1 AND NOT deleted")
                .bind(room_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        sqlx::query(
            "UPDATE messages SET body = '', deleted = TRUE WHERE room_id = $1 AND NOT deleted",
        )
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
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        room_in(&mut conn, room_id).await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.author_id \
             WHERE m.room_id = $1 AND NOT m.deleted AND ($2::text IS NULL OR m.position < $2) \
             ORDER BY m.position DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(room_id)
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
            "SELECT seq, payload FROM events WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(room_id)
        .bind(after as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
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
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = $1")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        seq.map(|s| s as u64).ok_or(Error::RoomNotFound)
    }
}

/// Gives every live message of the room a fresh, short key in its current order, appending a
/// `message.moved` event for each one whose key changed.
async fn respace(conn: &mut PgConnection, room_id: &str) -> Result<Vec<StoredEvent>> {
    let rows = sqlx::query(
        "SELECT id, position FROM messages WHERE room_id = $1 AND NOT deleted ORDER BY position",
    )
    .bind(room_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let keys = position::spread(rows.len());
    // Park every key out of the way first: the unique index must hold after each statement.
    sqlx::query(
        "UPDATE messages SET position = '~' || position WHERE room_id = $1 AND NOT deleted",
    )
    .bind(room_id)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut events = Vec::new();
    let mut previous: Option<String> = None;
    for (row, key) in rows.iter().zip(keys) {
        let id: String = row.get("id");
        let old: String = row.get("position");
        sqlx::query("UPDATE messages SET position = $1 WHERE id = $2")
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

/// Sends queue in lanes, one task each, a room always in the same lane: a lane stores its sends
/// one after another, so sends submitted in order are stored in order, while sends to rooms in
/// different lanes commit side by side.
const MAX_LANES: usize = 16;

fn lane_of(room_id: &str, lanes: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(room_id, &mut hasher);
    (std::hash::Hasher::finish(&hasher) % lanes as u64) as usize
}

/// A send waiting in its lane.
struct SendJob {
    request: SendRequest,
    reply: oneshot::Sender<Result<SendOutcome>>,
}

/// A lane publishes each committed send (a room's sends, in their commit order) before it
/// answers it.
async fn send_lane(pool: PgPool, mut jobs: mpsc::UnboundedReceiver<SendJob>, publish: PublishSlot) {
    while let Some(job) = jobs.recv().await {
        let outcome = send_now(&pool, &job.request).await;
        publish.publish(&outcome);
        let _ = job.reply.send(outcome);
    }
}

/// Stores one send in its own transaction, under the room's lock.
async fn send_now(pool: &PgPool, request: &SendRequest) -> Result<SendOutcome> {
    let SendRequest {
        room_id,
        author,
        client_id,
        body,
    } = request;
    let (room_id, client_id, body) = (room_id.as_str(), client_id.as_str(), body.as_str());
    // A retry answers from the log without locking the room.
    let mut conn = pool.acquire().await.map_err(db_err)?;
    if let Some(message) = existing_send(&mut conn, &author.id, client_id).await? {
        return Ok(SendOutcome::Existing(message));
    }
    drop(conn);
    let mut tx = pool.begin().await.map_err(db_err)?;
    lock_room(&mut tx, room_id).await?;
    // Under the lock: a retry of the same client_id racing on another node has either
    // committed (we see it now) or will hit the unique index below.
    if let Some(message) = existing_send(&mut tx, &author.id, client_id).await? {
        return Ok(SendOutcome::Existing(message));
    }
    let mut events = Vec::with_capacity(2);
    if let Some(joined) = join_in(&mut tx, room_id, author).await? {
        events.push(joined);
    }
    let last: Option<String> =
        sqlx::query_scalar("SELECT MAX(position) FROM messages WHERE room_id = $1 AND NOT deleted")
            .bind(room_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
    let seq = next_seq(&mut tx, room_id).await?;
    let message = Message {
        id: new_id(),
        room_id: room_id.to_string(),
        seq,
        author: author.clone(),
        body: body.to_string(),
        client_id: client_id.to_string(),
        created_at: now(),
        edited_at: None,
        position: position::after(last.as_deref()),
    };
    let inserted = sqlx::query(
        "INSERT INTO messages (id, room_id, seq, author_id, client_id, body, position, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&message.id)
    .bind(room_id)
    .bind(seq as i64)
    .bind(&author.id)
    .bind(client_id)
    .bind(body)
    .bind(&message.position)
    .bind(&message.created_at)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(err) if is_unique_violation(&err) => {
            // The same client_id committed meanwhile (in another room's transaction, which
            // our room lock does not cover): answer the original.
            drop(tx);
            let mut conn = pool.acquire().await.map_err(db_err)?;
            return existing_send(&mut conn, &author.id, client_id)
                .await?
                .map(SendOutcome::Existing)
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("client_id conflict vanished")));
        }
        Err(err) => return Err(db_err(err)),
    }
    let event = Event {
        room_id: room_id.to_string(),
        seq,
        at: message.created_at.clone(),
        kind: EventKind::MessageCreated {
            message: message.clone(),
        },
    };
    events.push(insert_event(&mut tx, &event, Some(&message.id)).await?);
    tx.commit().await.map_err(db_err)?;
    Ok(SendOutcome::Created { message, events })
}
