//! Search (issue #11): one query language on both stores, newest first, with highlights; the
//! index follows edits, deletes, clears and room deletion; nothing of a room the caller can't
//! read is ever found; bad queries get a clear 400 or nothing, never a 500. Every test runs on
//! SQLite and on PostgreSQL.

use palaver::protocol::Message;
use serde_json::{json, Value};

use crate::helpers::{spawn_on_with, StoreKind, TestApp};
use crate::private_rooms::private_room;

/// An app whose send limits don't get in the way of setting up many messages.
async fn app_on(store: StoreKind) -> TestApp {
    spawn_on_with(store, |config| {
        config.rate_burst = 1000;
        config.rate_per_sec = 1000;
    })
    .await
}

async fn send(app: &TestApp, token: &str, room_id: &str, body: &str) -> Message {
    let client_id = format!("c-{}", uuid::Uuid::now_v7().simple());
    let (status, message) = app
        .post(
            &format!("/api/rooms/{room_id}/messages"),
            Some(token),
            json!({"client_id": client_id, "body": body}),
        )
        .await;
    assert_eq!(status, 201, "{message}");
    serde_json::from_value(message).unwrap()
}

/// Percent-encodes a query parameter's value.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The raw answer to a search.
async fn search_raw(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    app.get(&format!("/api/search?{query}"), Some(token)).await
}

/// The whole answer to `q` (status 200 asserted).
async fn search_page(app: &TestApp, token: &str, q: &str) -> Value {
    let (status, body) = search_raw(app, token, &format!("q={}", encode(q))).await;
    assert_eq!(status, 200, "{q:?}: {body}");
    body
}

/// The ids of the messages `q` finds, in the order given.
async fn hits(app: &TestApp, token: &str, q: &str) -> Vec<String> {
    let body = search_page(app, token, q).await;
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["message"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn ids(messages: &[&Message]) -> Vec<String> {
    messages.iter().map(|m| m.id.clone()).collect()
}

async fn set_created_at(app: &TestApp, message: &Message, at: &str) {
    app.store_execute(
        "UPDATE messages SET created_at = $1 WHERE id = $2",
        &[at, &message.id],
    )
    .await;
}

async fn every_operator_finds_what_it_names(store: StoreKind) {
    let app = app_on(store).await;
    let (_, ann) = app.guest("ann").await;
    let (_, bob) = app.guest("bob").await;
    let general = app.create_room(&ann, "Team").await;
    let random = app.create_room(&ann, "Offtopic").await;
    let m1 = send(&app, &ann, &general.id, "Deploy the release notes today").await;
    let m2 = send(
        &app,
        &bob,
        &general.id,
        "release candidate is out, notes follow",
    )
    .await;
    let m3 = send(
        &app,
        &ann,
        &random.id,
        "see https://example.org/docs for the notes",
    )
    .await;
    let m4 = send(
        &app,
        &bob,
        &random.id,
        "mail ann.lee@example.com about max_retry_count",
    )
    .await;
    let m5 = send(
        &app,
        &ann,
        &general.id,
        "configure server.config.yaml please",
    )
    .await;
    let m6 = send(&app, &bob, &general.id, "draft notes: deployment plan").await;
    let m7 = send(&app, &ann, &general.id, "café crème for Ünïcode fans").await;
    for (message, day) in [
        (&m1, "10"),
        (&m2, "11"),
        (&m3, "12"),
        (&m4, "13"),
        (&m5, "14"),
        (&m6, "15"),
        (&m7, "16"),
    ] {
        set_created_at(&app, message, &format!("2026-01-{day}T12:00:00.000Z")).await;
    }
    let table: Vec<(&str, Vec<&Message>)> = vec![
        // Words: every one must match; the last one also as the start of a word.
        ("notes", vec![&m6, &m3, &m2, &m1]),
        ("NOTES", vec![&m6, &m3, &m2, &m1]),
        ("release notes", vec![&m2, &m1]),
        ("deploy", vec![&m6, &m1]),
        ("deploy ", vec![&m1]),
        ("plan deploy", vec![&m6]),
        ("deploy plan", vec![]),
        ("nowhere", vec![]),
        // Phrases.
        ("\"release notes\"", vec![&m1]),
        ("\"notes release\"", vec![]),
        // Excluded.
        ("notes -draft", vec![&m3, &m2, &m1]),
        ("notes -\"release notes\"", vec![&m6, &m3, &m2]),
        // Operators.
        ("from:bob notes", vec![&m6, &m2]),
        ("from:@BOB", vec![&m6, &m4, &m2]),
        ("from:nobody", vec![]),
        ("in:offtopic notes", vec![&m3]),
        ("in:#Team from:ann", vec![&m7, &m5, &m1]),
        ("in:nowhere notes", vec![]),
        ("has:link", vec![&m3]),
        ("has:link notes", vec![&m3]),
        ("has:file", vec![]),
        ("before:2026-01-12 notes", vec![&m2, &m1]),
        ("after:2026-01-12 notes", vec![&m6]),
        ("on:2026-01-12", vec![&m3]),
        ("after:2026-01-10 before:2026-01-13", vec![&m3, &m2]),
        // Dotted names, emails, URLs, identifiers, whole or in part.
        ("ann.lee@example.com", vec![&m4]),
        ("example.com", vec![&m4]),
        ("lee@example", vec![&m4]),
        ("max_retry_count", vec![&m4]),
        ("retry", vec![&m4]),
        ("server.config.yaml", vec![&m5]),
        ("config.yaml", vec![&m5]),
        ("https://example.org/docs", vec![&m3]),
        ("example.org", vec![&m3]),
        // Letters beyond ASCII, case folded.
        ("café", vec![&m7]),
        ("ÜNÏCODE", vec![&m7]),
    ];
    let mut wrong = Vec::new();
    for (q, expected) in &table {
        let found = hits(&app, &bob, q).await;
        if found != ids(expected) {
            wrong.push(format!(
                "{q:?}: expected {:?}, found {found:?}",
                ids(expected)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "queries that found the wrong messages:\n{}",
        wrong.join("\n")
    );

    // Highlights: code points of the matched words in the returned body, end exclusive.
    let page = search_page(&app, &bob, "release notes").await;
    let first = &page["results"][1];
    assert_eq!(first["message"]["body"], "Deploy the release notes today");
    assert_eq!(first["highlights"], json!([[11, 18], [19, 24]]));
    let page = search_page(&app, &bob, "crème ünï").await;
    assert_eq!(page["results"][0]["highlights"], json!([[5, 10], [15, 22]]));
    let page = search_page(&app, &bob, "example.com").await;
    assert_eq!(page["results"][0]["highlights"], json!([[13, 24]]));
    assert_eq!(page["results"][0]["message"]["author"]["username"], "bob");
    assert_eq!(page["results"][0]["message"]["room_id"], random.id.as_str());
    assert_eq!(page["next_before"], Value::Null);

    // room_id narrows to one room.
    let (status, body) = search_raw(&app, &bob, &format!("q=notes&room_id={}", random.id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
}

async fn the_index_follows_edits_deletes_clears_moves_and_room_deletion(store: StoreKind) {
    let app = app_on(store).await;
    let (_, owner) = app.guest("owner").await;
    let room = app.create_room(&owner, "Changes").await;

    let edited = send(&app, &owner, &room.id, "alpha original wording").await;
    assert_eq!(
        hits(&app, &owner, "original").await,
        vec![edited.id.clone()]
    );
    let (status, body) = app
        .patch(
            &format!("/api/rooms/{}/messages/{}", room.id, edited.id),
            Some(&owner),
            json!({"body": "alpha replaced wording"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(hits(&app, &owner, "original").await.is_empty());
    assert_eq!(
        hits(&app, &owner, "replaced").await,
        vec![edited.id.clone()]
    );
    let page = search_page(&app, &owner, "replaced").await;
    assert_eq!(
        page["results"][0]["message"]["body"],
        "alpha replaced wording"
    );

    // A move changes no text: the message is found once, as before.
    let other = send(&app, &owner, &room.id, "alpha neighbour").await;
    let (status, body) = app
        .post(
            &format!("/api/rooms/{}/messages/{}/move", room.id, other.id),
            Some(&owner),
            json!({"after": null}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        hits(&app, &owner, "neighbour").await,
        vec![other.id.clone()]
    );
    assert_eq!(hits(&app, &owner, "alpha").await.len(), 2);

    let (status, body) = app
        .delete(
            &format!("/api/rooms/{}/messages/{}", room.id, edited.id),
            Some(&owner),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    assert!(hits(&app, &owner, "replaced").await.is_empty());
    assert_eq!(hits(&app, &owner, "alpha").await, vec![other.id.clone()]);

    // A clear takes every message of the room out.
    send(&app, &owner, &room.id, "bravo one").await;
    send(&app, &owner, &room.id, "bravo two").await;
    assert_eq!(hits(&app, &owner, "bravo").await.len(), 2);
    let (status, body) = app
        .post(
            &format!("/api/rooms/{}/clear", room.id),
            Some(&owner),
            json!({}),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    assert!(hits(&app, &owner, "bravo").await.is_empty());
    assert!(hits(&app, &owner, "alpha").await.is_empty());

    // So does deleting the room.
    let doomed = app.create_room(&owner, "Doomed").await;
    send(&app, &owner, &doomed.id, "charlie here").await;
    assert_eq!(hits(&app, &owner, "charlie").await.len(), 1);
    let (status, body) = app
        .delete(&format!("/api/rooms/{}", doomed.id), Some(&owner))
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    assert!(hits(&app, &owner, "charlie").await.is_empty());
    // The bodies are erased, not only hidden: the index has no trace of them either.
    assert_eq!(index_hits(&app, "charlie").await, 0);
    assert_eq!(index_hits(&app, "bravo").await, 0);
    assert_eq!(index_hits(&app, "original").await, 0);
}

/// How many messages the store's own index matches for one word, whoever may read them.
async fn index_hits(app: &TestApp, word: &str) -> i64 {
    use sqlx::Connection;
    match app.database_url() {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM messages WHERE search @@ to_tsquery('simple', $1)",
            )
            .bind(word)
            .fetch_one(&mut conn)
            .await
            .unwrap()
        }
        None => {
            let url = format!("sqlite://{}", app.data_dir.join("palaver.db").display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT COUNT(*) FROM message_search WHERE message_search MATCH $1")
                .bind(word)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    }
}

async fn nothing_of_a_room_one_cannot_read_is_found(store: StoreKind) {
    let app = app_on(store).await;
    let (_, owner) = app.guest("owner").await;
    let (bob_user, bob) = app.guest("bob").await;
    let (_, carol) = app.guest("carol").await;
    let (_, outsider) = app.guest("outsider").await;

    // A private room.
    let secret = private_room(&app, &owner, "Secret").await;
    let secret_id = secret["id"].as_str().unwrap();
    send(&app, &owner, secret_id, "classified zebra plans").await;
    // A DM between owner and carol.
    let (status, dm) = app
        .post("/api/dms", Some(&owner), json!({"usernames": ["carol"]}))
        .await;
    assert!(status == 200 || status == 201, "{dm}");
    let dm_id = dm["id"].as_str().unwrap();
    send(&app, &carol, dm_id, "zebra whispers in the dm").await;
    // A public room bob is then banned from.
    let public = app.create_room(&owner, "Open").await;
    send(&app, &bob, &public.id, "zebra crossing before my ban").await;
    send(&app, &owner, &public.id, "a public zebra anyone may see").await;
    let (status, body) = app
        .post(
            &format!("/api/rooms/{}/bans", public.id),
            Some(&owner),
            json!({"user_id": bob_user.id}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    assert_eq!(hits(&app, &owner, "zebra").await.len(), 4);
    assert_eq!(
        hits(&app, &carol, "zebra").await.len(),
        3,
        "carol: the DM and the public room"
    );
    assert_eq!(
        hits(&app, &outsider, "zebra").await.len(),
        2,
        "outsider: the public room"
    );
    assert!(
        hits(&app, &bob, "zebra").await.is_empty(),
        "bob is banned from the one room he reads"
    );
    for q in [
        "classified",
        "whispers",
        "in:secret zebra",
        "from:owner classified",
        "from:carol",
    ] {
        assert!(hits(&app, &outsider, q).await.is_empty(), "{q}");
        assert!(hits(&app, &bob, q).await.is_empty(), "{q}");
    }
    // Naming the room is no way in: it does not exist for them.
    for id in [secret_id, dm_id] {
        let (status, body) = search_raw(&app, &outsider, &format!("q=zebra&room_id={id}")).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "room_not_found", "{body}");
    }
    let (status, body) = search_raw(&app, &bob, &format!("q=zebra&room_id={}", public.id)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "banned");
    // And signed out, nothing at all.
    let (status, _) = app.get("/api/search?q=zebra", None).await;
    assert_eq!(status, 401);
}

async fn bad_queries_get_a_clear_answer_never_a_server_error(store: StoreKind) {
    let app = app_on(store).await;
    let (_, ann) = app.guest("ann").await;
    let room = app.create_room(&ann, "Plain").await;
    send(
        &app,
        &ann,
        &room.id,
        "an ordinary message; DROP TABLE messages",
    )
    .await;
    let long = "word ".repeat(2000);
    let huge = "x".repeat(10_000);
    let queries: Vec<&str> = vec![
        "\"unbalanced",
        "unbalanced\"",
        &long,
        &huge,
        "from:",
        "in:",
        "has:",
        "has:cats",
        "before:",
        "before:yesterday",
        "on:2026-02-30",
        "after:2026-13-01",
        "-",
        "---",
        "-from:ann",
        "\"\"",
        "*",
        "^",
        "NEAR(a b)",
        "a*",
        "^message",
        "ordinary OR",
        "AND",
        "NOT ordinary",
        "' OR 1=1 --",
        "\"); DROP TABLE messages; --",
        "'; SELECT * FROM users; --",
        "message:*",
        "message & !x | y <-> z",
        "a:b:c",
        "from:\u{0}ann",
        "nul\u{0}byte",
        "😀",
        "\\",
        "%",
        "_",
        "%_%",
        "in:\"open quote",
        "from:ann' OR '1'='1",
    ];
    for q in &queries {
        let (status, body) = search_raw(&app, &ann, &format!("q={}", encode(q))).await;
        let shown: String = q.chars().take(40).collect();
        match status {
            200 => assert!(body["results"].is_array(), "{shown:?}: {body}"),
            400 => {
                let code = body["error"]["code"].as_str().unwrap_or("");
                assert!(
                    code == "invalid_query" || code == "invalid_request",
                    "{shown:?}: {body}"
                );
                assert!(!body["error"]["message"].as_str().unwrap_or("").is_empty());
            }
            _ => panic!("{shown:?}: {status} {body}"),
        }
    }
    // The ones that must be refused, with a reason.
    for q in [
        "\"unbalanced",
        huge.as_str(),
        "from:",
        "has:cats",
        "on:2026-02-30",
        "",
        "-",
    ] {
        let (status, body) = search_raw(&app, &ann, &format!("q={}", encode(q))).await;
        assert_eq!(status, 400, "{q:.40}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, body) = search_raw(&app, &ann, "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );
    // SQL in a query is words like any other.
    assert_eq!(hits(&app, &ann, "DROP TABLE messages").await.len(), 1);
    // Paging parameters.
    for query in [
        "q=x&limit=0",
        "q=x&limit=101",
        "q=x&limit=-1",
        "q=x&before=not-a-cursor",
        "q=x&before=",
    ] {
        let (status, body) = search_raw(&app, &ann, query).await;
        assert_eq!(status, 400, "{query}: {body}");
    }
    let (status, body) = search_raw(&app, &ann, "q=x&room_id=no-such-room").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("room_not_found"))
    );
}

async fn pages_go_newest_first_without_gaps_or_repeats(store: StoreKind) {
    let app = app_on(store).await;
    let (_, ann) = app.guest("ann").await;
    let room = app.create_room(&ann, "Many").await;
    let mut sent = Vec::new();
    for n in 0..25 {
        sent.push(
            send(&app, &ann, &room.id, &format!("paged message number {n}"))
                .await
                .id,
        );
        send(&app, &ann, &room.id, &format!("unrelated filler {n}")).await;
    }
    sent.reverse();
    let mut found = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = "q=paged&limit=10".to_string();
        if let Some(cursor) = &before {
            query.push_str(&format!("&before={}", encode(cursor)));
        }
        let (status, body) = search_raw(&app, &ann, &query).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        for hit in body["results"].as_array().unwrap() {
            found.push(hit["message"]["id"].as_str().unwrap().to_string());
        }
        match body["next_before"].as_str() {
            Some(cursor) => before = Some(cursor.to_string()),
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(pages, 3);
    assert_eq!(found, sent);

    // Without words the pages go by time; the same holds.
    let mut all = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut query = "q=from%3Aann&limit=7".to_string();
        if let Some(cursor) = &before {
            query.push_str(&format!("&before={}", encode(cursor)));
        }
        let (status, body) = search_raw(&app, &ann, &query).await;
        assert_eq!(status, 200, "{body}");
        for hit in body["results"].as_array().unwrap() {
            all.push(hit["message"]["id"].as_str().unwrap().to_string());
        }
        match body["next_before"].as_str() {
            Some(cursor) => before = Some(cursor.to_string()),
            None => break,
        }
        assert!(all.len() <= 50, "paging ends");
    }
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!((all.len(), unique.len()), (50, 50));
    let paged: Vec<&String> = all.iter().filter(|id| sent.contains(id)).collect();
    assert_eq!(paged, sent.iter().collect::<Vec<_>>(), "newest first");
}

/// `palaver reindex`, the real binary, on the store the server uses while it runs.
async fn the_reindex_command_rebuilds_the_index(store: StoreKind) {
    let app = app_on(store).await;
    let (_, ann) = app.guest("ann").await;
    let room = app.create_room(&ann, "Indexed").await;
    let message = send(&app, &ann, &room.id, "rebuild me from the messages").await;
    if app.database_url().is_none() {
        // Lose the SQLite index: only a rebuild brings the message back.
        app.store_execute(
            "INSERT INTO message_search(message_search) VALUES ('delete-all')",
            &[],
        )
        .await;
        assert!(hits(&app, &ann, "rebuild").await.is_empty());
    }
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_palaver"));
    command
        .arg("reindex")
        .env("PALAVER_DATA_DIR", &app.data_dir)
        .env_remove("PALAVER_DATABASE_URL")
        .env("RUST_LOG", "warn");
    if let Some(url) = app.database_url() {
        command.env("PALAVER_DATABASE_URL", url);
    }
    let out = command.output().await.expect("palaver runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rebuilt"));
    assert_eq!(hits(&app, &ann, "rebuild").await, vec![message.id]);

    // A store it can't open: a failure exit and a reason, no panic.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_palaver"))
        .arg("reindex")
        .env("PALAVER_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .await
        .expect("palaver runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("palaver reindex"));
}

/// `palaver copy-to-postgres` needs nothing for search: the copy answers every query as the
/// SQLite store did (PostgreSQL computes its index from the copied bodies).
#[tokio::test]
async fn a_store_copied_to_postgres_finds_the_same_messages() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let mut single = crate::helpers::spawn_with(move |c| {
        c.data_dir = data_dir;
        c.rate_per_sec = 0;
    })
    .await;
    let (_, ann) = single.guest("ann").await;
    let room = single.create_room(&ann, "Copied").await;
    let kept = send(
        &single,
        &ann,
        &room.id,
        "kept words about ann.lee@example.com",
    )
    .await;
    let edited = send(&single, &ann, &room.id, "first draft of words").await;
    let deleted = send(&single, &ann, &room.id, "secret words to delete").await;
    let (status, _) = single
        .patch(
            &format!("/api/rooms/{}/messages/{}", room.id, edited.id),
            Some(&ann),
            json!({"body": "final version of words"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = single
        .delete(
            &format!("/api/rooms/{}/messages/{}", room.id, deleted.id),
            Some(&ann),
        )
        .await;
    assert!(status == 200 || status == 204);
    let queries = [
        "words",
        "draft",
        "final",
        "secret",
        "example.com",
        "from:ann words",
    ];
    let mut before = Vec::new();
    for q in queries {
        before.push(hits(&single, &ann, q).await);
    }
    assert_eq!(before[0], vec![edited.id.clone(), kept.id.clone()]);
    single.stop().await;

    let target = crate::pgdb::TestDatabase::create().await;
    let out = crate::copy_to_postgres::copy(dir.path(), &target.url).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = target.url.clone();
    let node = crate::helpers::spawn_with(move |c| c.database_url = Some(url)).await;
    // The session copied with the store still signs ann in.
    for (q, expected) in queries.iter().zip(&before) {
        assert_eq!(&hits(&node, &ann, q).await, expected, "{q}");
    }
}

crate::both_stores!(
    every_operator_finds_what_it_names,
    the_index_follows_edits_deletes_clears_moves_and_room_deletion,
    nothing_of_a_room_one_cannot_read_is_found,
    bad_queries_get_a_clear_answer_never_a_server_error,
    pages_go_newest_first_without_gaps_or_repeats,
    the_reindex_command_rebuilds_the_index,
);
