//! `palaver copy-to-postgres`: a single node's SQLite store, built through the public API, copied
//! by the real binary into a fresh PostgreSQL database, then served from PostgreSQL and compared
//! through the API: rooms, history pages, event logs, members, passwords and sessions.
//!
//! (Over 500 lines: one scenario per table and failure of the copy.)

use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::helpers::{spawn_with, TestApp};

use crate::pgdb;

pub(crate) async fn copy(from: &Path, to: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_palaver"))
        .arg("copy-to-postgres")
        .arg("--from")
        .arg(from)
        .arg("--to")
        .arg(to)
        .output()
        .await
        .expect("the palaver binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn file_hash(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).expect("the SQLite file")).to_vec()
}

async fn sqlite_app(dir: &Path) -> TestApp {
    let dir = dir.to_path_buf();
    spawn_with(move |c| {
        c.data_dir = dir;
        c.rate_per_sec = 0;
        c.login_per_address_per_min = 0;
        c.guests_per_address_per_min = 0;
        c.guests_per_min = 0;
    })
    .await
}

async fn postgres_app(url: &str) -> TestApp {
    let url = url.to_string();
    spawn_with(move |c| {
        c.database_url = Some(url);
        c.rate_per_sec = 0;
        c.login_per_address_per_min = 0;
        c.guests_per_address_per_min = 0;
        c.guests_per_min = 0;
    })
    .await
}

async fn register(app: &TestApp, name: &str, password: &str) -> (Value, String) {
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": name, "password": password}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        body["user"].clone(),
        body["token"].as_str().unwrap().to_string(),
    )
}

async fn send(app: &TestApp, token: &str, room: &str, client_id: &str, body: &str) -> Value {
    let (status, message) = app
        .post(
            &format!("/api/rooms/{room}/messages"),
            Some(token),
            json!({"client_id": client_id, "body": body}),
        )
        .await;
    assert_eq!(status, 201, "{message}");
    message
}

async fn ok(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, body) = app.get(path, Some(token)).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Every history page of a room, from the last page back, two messages a page.
async fn history_pages(app: &TestApp, token: &str, room: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            Some(position) => format!("/api/rooms/{room}/messages?limit=2&before={position}"),
            None => format!("/api/rooms/{room}/messages?limit=2"),
        };
        let page = ok(app, &path, token).await;
        let has_more = page["has_more"].as_bool().unwrap();
        before = page["messages"][0]["position"].as_str().map(str::to_string);
        pages.push(page);
        if !has_more {
            return pages;
        }
    }
}

/// Everything a client can read about every room, as the server answers it.
async fn snapshot(app: &TestApp, token: &str) -> Value {
    let rooms = ok(app, "/api/rooms", token).await;
    let mut per_room = serde_json::Map::new();
    for room in rooms.as_array().unwrap() {
        let id = room["id"].as_str().unwrap();
        per_room.insert(
            id.to_string(),
            json!({
                "room": ok(app, &format!("/api/rooms/{id}"), token).await,
                "members": ok(app, &format!("/api/rooms/{id}/members"), token).await,
                "pages": history_pages(app, token, id).await,
                "events": ok(app, &format!("/api/rooms/{id}/events?after=0&limit=1000"), token).await,
                "pins": ok(app, &format!("/api/rooms/{id}/pins"), token).await,
            }),
        );
    }
    json!({"rooms": rooms, "per_room": per_room})
}

fn count_line(stdout: &str, table: &str) -> u64 {
    let prefix = format!("{table}: ");
    stdout
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.strip_suffix(" rows"))
        .unwrap_or_else(|| panic!("no count for {table} in:\n{stdout}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_copied_to_postgres_serves_the_same_chat() {
    let dir = tempfile::tempdir().unwrap();
    let mut single = sqlite_app(dir.path()).await;

    // Three people: one registered, two guests.
    let (alice, alice_token) = register(&single, "alice", "correct horse battery").await;
    let (bob, bob_token) = single.guest("bob").await;
    let (_carol, carol_token) = single.guest("carol").await;

    // A room of alice's that bob joins, with sends, an edit, a delete and a move.
    let lounge = single.create_room(&alice_token, "Lounge").await.id;
    let (status, _) = single
        .post(
            &format!("/api/rooms/{lounge}/join"),
            Some(&bob_token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = single
        .patch(
            &format!("/api/rooms/{lounge}"),
            Some(&alice_token),
            json!({"topic": "all things moving"}),
        )
        .await;
    assert_eq!(status, 200);
    let mut ids = Vec::new();
    for i in 1..=5 {
        ids.push(
            send(
                &single,
                &alice_token,
                &lounge,
                &format!("a{i}"),
                &format!("alice {i}"),
            )
            .await["id"]
                .clone(),
        );
    }
    let bobs = send(&single, &bob_token, &lounge, "b1", "bob's only message").await;
    let bobs_kept = send(&single, &bob_token, &lounge, "b2", "bob's kept message").await;
    let (status, _) = single
        .patch(
            &format!("/api/rooms/{lounge}/messages/{}", ids[1].as_str().unwrap()),
            Some(&alice_token),
            json!({"body": "alice 2, edited"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = single
        .delete(
            &format!(
                "/api/rooms/{lounge}/messages/{}",
                bobs["id"].as_str().unwrap()
            ),
            Some(&bob_token),
        )
        .await;
    assert_eq!(status, 204);
    let (status, moved) = single
        .post(
            &format!(
                "/api/rooms/{lounge}/messages/{}/move",
                ids[4].as_str().unwrap()
            ),
            Some(&alice_token),
            json!({"after": null}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    let (status, _) = single
        .post(
            &format!(
                "/api/rooms/{lounge}/messages/{}/move",
                bobs_kept["id"].as_str().unwrap()
            ),
            Some(&alice_token),
            json!({"after": ids[0]}),
        )
        .await;
    assert_eq!(status, 200);

    // Issue #10: a thread, a reply, reactions and a pin.
    let root = ids[0].as_str().unwrap().to_string();
    let rest = single.rest();
    let (status, _) = rest
        .send_in(
            &bob_token,
            &lounge,
            "t1",
            "in the thread",
            None,
            Some(&root),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    let kept_id = bobs_kept["id"].as_str().unwrap();
    let (status, _) = rest
        .send_in(&alice_token, &lounge, "r1", "a reply", Some(kept_id), None)
        .await
        .unwrap();
    assert_eq!(status, 201);
    for (token, emoji) in [(&alice_token, "👍"), (&bob_token, "👍"), (&bob_token, "🎉")] {
        let (status, body) = rest
            .react(token, &lounge, &root, emoji, true)
            .await
            .unwrap();
        assert_eq!(status, 204, "{body}");
    }
    let (status, _) = rest.pin(&alice_token, &lounge, &root, true).await.unwrap();
    assert_eq!(status, 204);
    let thread_before = rest
        .thread(&alice_token, &lounge, &root, None, 50)
        .await
        .unwrap();
    assert_eq!(thread_before.messages.len(), 1);

    // A room that gets cleared, then talked in again.
    let attic = single.create_room(&alice_token, "Attic").await.id;
    for i in 1..=3 {
        send(
            &single,
            &carol_token,
            &attic,
            &format!("c{i}"),
            &format!("carol {i}"),
        )
        .await;
    }
    let (status, _) = single
        .post(
            &format!("/api/rooms/{attic}/clear"),
            Some(&alice_token),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    send(&single, &carol_token, &attic, "c4", "after the clear").await;

    // A deleted room, and talk in the default rooms.
    let doomed = single.create_room(&alice_token, "Doomed").await.id;
    send(&single, &alice_token, &doomed, "d1", "soon gone").await;
    let (status, _) = single
        .delete(&format!("/api/rooms/{doomed}"), Some(&alice_token))
        .await;
    assert_eq!(status, 204);
    let rooms = ok(&single, "/api/rooms", &alice_token).await;
    let general = rooms
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "General")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    send(&single, &bob_token, &general, "g1", "hello general").await;
    send(&single, &carol_token, &general, "g2", "hi bob").await;

    // Issue #10: a mention, bob's read marker and level, alice's push subscription, the VAPID key.
    send(&single, &alice_token, &lounge, "m1", "@bob look").await;
    let read = json!({"seq": 3});
    let (status, _) = crate::unread::put(
        &single,
        &format!("/api/rooms/{lounge}/read"),
        &bob_token,
        read,
    )
    .await;
    assert_eq!(status, 204);
    let level = json!({"level": "all"});
    let (status, _) = crate::unread::put(
        &single,
        &format!("/api/rooms/{lounge}/notifications"),
        &bob_token,
        level,
    )
    .await;
    assert_eq!(status, 204);
    let subscription = json!({"endpoint": "https://push.example.com/send/alice",
        "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "auth": "BTBZMqHH6r4Tts7J_aSIgg"}});
    let (status, _) = single
        .post("/api/push/subscriptions", Some(&alice_token), subscription)
        .await;
    assert_eq!(status, 201);
    let unread_before = ok(&single, "/api/me/unread", &bob_token).await;
    assert!(unread_before
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["mentions"] == 1));
    let key_before = ok(&single, "/api/push/key", &bob_token).await;

    let before = snapshot(&single, &alice_token).await;
    let lounge_last_seq = before["per_room"][&lounge]["room"]["last_seq"]
        .as_u64()
        .unwrap();
    assert!(lounge_last_seq >= 12, "{}", before["per_room"][&lounge]);
    single.stop().await;

    // The copy, by the real binary.
    let db_file = dir.path().join("palaver.db");
    let hash = file_hash(&db_file);
    let target = pgdb::TestDatabase::create().await;
    let out = copy(dir.path(), &target.url).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert_eq!(count_line(&stdout, "users"), 3, "{stdout}");
    // alice's register, bob's and carol's guest sessions.
    assert_eq!(count_line(&stdout, "sessions"), 3, "{stdout}");
    // The three default rooms, Lounge, Attic and the deleted Doomed.
    assert_eq!(count_line(&stdout, "rooms"), 6, "{stdout}");
    assert!(count_line(&stdout, "members") >= 5, "{stdout}");
    assert!(count_line(&stdout, "messages") >= 13, "{stdout}");
    assert!(count_line(&stdout, "events") > lounge_last_seq, "{stdout}");
    assert_eq!(count_line(&stdout, "reactions"), 3, "{stdout}");
    assert_eq!(count_line(&stdout, "pins"), 1, "{stdout}");
    assert_eq!(file_hash(&db_file), hash, "the source file was modified");
    assert_eq!(count_line(&stdout, "mentions"), 1, "{stdout}");
    assert_eq!(count_line(&stdout, "read_state"), 1, "{stdout}");
    assert_eq!(count_line(&stdout, "push_subscriptions"), 1, "{stdout}");
    assert_eq!(count_line(&stdout, "server_keys"), 1, "{stdout}");

    // A second copy into the now-filled database refuses and changes nothing.
    let again = copy(dir.path(), &target.url).await;
    assert!(!again.status.success(), "{}", text(&again.stdout));
    assert!(
        text(&again.stderr).contains("already holds data"),
        "{}",
        text(&again.stderr)
    );

    // Served from PostgreSQL: everything reads the same.
    let cluster = postgres_app(&target.url).await;
    let after = snapshot(&cluster, &alice_token).await;
    assert_eq!(after["rooms"], before["rooms"]);
    for (id, room) in before["per_room"].as_object().unwrap() {
        for part in ["room", "members", "pages", "events", "pins"] {
            assert_eq!(
                after["per_room"][id][part], room[part],
                "{part} of room {id}"
            );
        }
    }
    assert_eq!(after, before);
    let thread_after = cluster
        .rest()
        .thread(&alice_token, &lounge, &root, None, 50)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&thread_after.messages).unwrap(),
        serde_json::to_value(&thread_before.messages).unwrap()
    );
    assert_eq!(
        ok(&cluster, "/api/me/unread", &bob_token).await,
        unread_before
    );
    assert_eq!(ok(&cluster, "/api/push/key", &bob_token).await, key_before);
    let (status, _) = cluster
        .get(&format!("/api/rooms/{doomed}"), Some(&alice_token))
        .await;
    assert_eq!(status, 404);

    // Sessions from before still work; the password still signs in.
    assert_eq!(ok(&cluster, "/api/me", &bob_token).await, json!(bob));
    assert_eq!(ok(&cluster, "/api/me", &alice_token).await, alice);
    let (status, body) = cluster
        .post(
            "/api/auth/login",
            None,
            json!({"username": "alice", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"], alice);
    let (status, _) = cluster
        .post(
            "/api/auth/login",
            None,
            json!({"username": "alice", "password": "wrong horse battery"}),
        )
        .await;
    assert_eq!(status, 401);

    // A retried send finds the original; a new one continues the room's seq.
    let (status, retried) = cluster
        .post(
            &format!("/api/rooms/{lounge}/messages"),
            Some(&alice_token),
            json!({"client_id": "a1", "body": "alice 1"}),
        )
        .await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["id"], ids[0]);
    let fresh = send(&cluster, &bob_token, &lounge, "b3", "hello from postgres").await;
    assert_eq!(fresh["seq"].as_u64(), Some(lounge_last_seq + 1));

    // A client resuming over the socket with a seq from before gets exactly what follows it.
    let mut ws = cluster.ws(&bob_token).await;
    let (replayed, subscribed) = ws.subscribe(&lounge, Some(lounge_last_seq - 2)).await;
    let old_events = before["per_room"][&lounge]["events"]["events"]
        .as_array()
        .unwrap();
    let replayed: Vec<Value> = replayed.into_iter().map(|f| f["event"].clone()).collect();
    assert_eq!(replayed.len(), 3);
    assert_eq!(replayed[..2], old_events[old_events.len() - 2..]);
    assert_eq!(replayed[2]["seq"].as_u64(), Some(lounge_last_seq + 1));
    assert_eq!(replayed[2]["message"], fresh);
    assert_eq!(subscribed["last_seq"].as_u64(), Some(lounge_last_seq + 1));
    ws.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_refuses_a_target_that_holds_data() {
    // A source with one registered user.
    let dir = tempfile::tempdir().unwrap();
    let mut single = sqlite_app(dir.path()).await;
    register(&single, "dora", "tangerine-otter-42").await;
    single.stop().await;

    // A target a node has already started on: it seeded the default rooms.
    let target = pgdb::TestDatabase::create().await;
    let mut node = postgres_app(&target.url).await;
    let (_, token) = node.guest("early").await;
    let rooms_before = ok(&node, "/api/rooms", &token).await;
    node.stop().await;

    let out = copy(dir.path(), &target.url).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(stderr.contains("refusing to copy"), "{stderr}");
    assert!(
        stderr.contains("1 users") && stderr.contains("3 rooms"),
        "{stderr}"
    );

    // Nothing of the source arrived.
    let node = postgres_app(&target.url).await;
    assert_eq!(ok(&node, "/api/rooms", &token).await, rooms_before);
    let (status, _) = node
        .post(
            "/api/auth/login",
            None,
            json!({"username": "dora", "password": "tangerine-otter-42"}),
        )
        .await;
    assert_eq!(status, 401);

    // A database of something else: refused before anything is created in it.
    let other = pgdb::TestDatabase::create().await;
    let mut pg = sqlx::PgConnection::connect(&other.url).await.unwrap();
    sqlx::query("CREATE TABLE orders (id INT PRIMARY KEY)")
        .execute(&mut pg)
        .await
        .unwrap();
    let out = copy(dir.path(), &other.url).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        stderr.contains("tables that are not Palaver's (orders)"),
        "{stderr}"
    );
    let users_table: Option<String> = sqlx::query_scalar("SELECT to_regclass('users')::text")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!(users_table, None, "no Palaver table was created");
    pg.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_refuses_a_missing_source_and_a_non_postgres_target() {
    let dir = tempfile::tempdir().unwrap();
    let out = copy(dir.path(), "postgres://postgres@127.0.0.1:5432/unused").await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no SQLite store at"),
        "{}",
        text(&out.stderr)
    );
    let out = copy(dir.path(), "sqlite://elsewhere.db").await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--to must be a PostgreSQL URL"),
        "{}",
        text(&out.stderr)
    );
}

/// The command's output, which also writes to the source as soon as the first table is copied:
/// a server still running on it, caught in the act.
struct WritesToTheSource {
    db_file: std::path::PathBuf,
    wrote: bool,
    out: Vec<u8>,
}

impl std::io::Write for WritesToTheSource {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.extend_from_slice(buf);
        if !self.wrote && text(&self.out).contains("users: ") {
            self.wrote = true;
            let db_file = self.db_file.clone();
            // Its own thread and runtime: this is called from inside the copy's future.
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async move {
                        let url = format!("sqlite://{}", db_file.display());
                        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                        sqlx::query(
                            "INSERT INTO sessions (token_hash, user_id, created_at) \
                             SELECT 'late-login', id, created_at FROM users LIMIT 1",
                        )
                        .execute(&mut conn)
                        .await
                        .unwrap();
                        conn.close().await.unwrap();
                    })
            })
            .join()
            .expect("the write to the source");
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_refuses_a_source_written_to_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let mut single = sqlite_app(dir.path()).await;
    register(&single, "eve", "violet kettle drum").await;
    single.stop().await;

    let target = pgdb::TestDatabase::create().await;
    let mut out = WritesToTheSource {
        db_file: dir.path().join("palaver.db"),
        wrote: false,
        out: Vec::new(),
    };
    let err = palaver::store::copy::sqlite_to_postgres(
        dir.path().to_str().unwrap(),
        &target.url,
        &mut out,
    )
    .await
    .expect_err("a source that changed during the copy is refused");
    assert!(out.wrote, "{}", text(&out.out));
    assert!(
        err.to_string()
            .contains("changed while it was being copied"),
        "{err:#}"
    );

    // The target's tables exist (migrated) but hold nothing.
    let mut pg = sqlx::PgConnection::connect(&target.url).await.unwrap();
    for table in palaver::store::copy::TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut pg)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    pg.close().await.unwrap();
}

/// The copy follows the store's description of its tables (`store::schema`, checked against the
/// SQLite migrations by a unit test): the PostgreSQL migrations make exactly those tables and
/// columns too, with the types the copy binds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_schema_is_the_described_one() {
    use palaver::store::schema::{Kind, TABLES};
    let db = pgdb::TestDatabase::create().await;
    palaver::store::postgres::PostgresStore::open(&db.url, 2)
        .await
        .unwrap()
        .close()
        .await;
    let mut pg = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let found: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'YES' \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations' \
         AND is_generated = 'NEVER' ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut pg)
    .await
    .unwrap();
    pg.close().await.unwrap();
    let mut described: Vec<(String, String, String, bool)> = Vec::new();
    for table in TABLES {
        for column in table.columns {
            let ty = match column.kind {
                Kind::Text | Kind::NullableText => "text",
                Kind::Int => "bigint",
                Kind::Bool => "boolean",
                Kind::Bytes => "bytea",
            };
            let nullable = column.kind == Kind::NullableText;
            described.push((table.name.into(), column.name.into(), ty.into(), nullable));
        }
    }
    // By table name, each table's columns in their order.
    described.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(found, described);
}
