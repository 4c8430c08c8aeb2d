//! Bot accounts on both stores: a token limited to chosen rooms reaches nothing else (REST,
//! socket, room lists), deleting a bot or rotating its token revokes the old one, guests can't
//! own bots, and the Python example bot (examples/bot.py) answers `!ping` with `pong`.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_on, spawn_on_with, StoreKind, TestApp, WsClient};

/// A registered (not guest) account: (user id, token).
pub async fn person(app: &TestApp, name: &str) -> (String, String) {
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": name, "password": "grey-lantern-orbit-1977"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        body["user"]["id"].as_str().unwrap().to_string(),
        body["token"].as_str().unwrap().to_string(),
    )
}

/// A new bot: (its user, its token).
async fn bot(app: &TestApp, owner: &str, name: &str, rooms: Option<&[&str]>) -> (Value, String) {
    let mut request = json!({ "username": name });
    if let Some(rooms) = rooms {
        request["room_ids"] = json!(rooms);
    }
    let (status, body) = app.post("/api/bots", Some(owner), request).await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    (body["user"].clone(), token)
}

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"]["code"].as_str().unwrap_or(""))
}

async fn a_bot_token_reaches_only_its_rooms(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = person(&app, "owner").await;
    let inside = app.create_room(&owner, "Inside").await;
    let outside = app.create_room(&owner, "Outside").await;
    let (user, token) = bot(&app, &owner, "helper-bot", Some(&[&inside.id])).await;
    assert_eq!(user["bot"], true);
    let (status, me) = app.get("/api/me", Some(&token)).await;
    assert_eq!((status, me["bot"].clone()), (200, json!(true)));

    // It joined its room on creation.
    let events = app.events(&owner, &inside.id, 0).await;
    assert!(events.iter().any(|e| matches!(&e.kind,
        palaver::protocol::EventKind::MemberJoined { user: u } if u.id == user["id"] && u.bot)));

    // REST: only its room exists for it.
    let (_, rooms) = app.get("/api/rooms", Some(&token)).await;
    let ids: Vec<&str> = rooms
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![inside.id.as_str()]);
    let (_, all) = app.get("/api/rooms", Some(&owner)).await;
    let general = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "General")
        .unwrap();
    for room in [outside.id.as_str(), general["id"].as_str().unwrap()] {
        let paths = [
            format!("/api/rooms/{room}"),
            format!("/api/rooms/{room}/messages"),
            format!("/api/rooms/{room}/events?after=0"),
            format!("/api/rooms/{room}/members"),
        ];
        for path in &paths {
            assert_eq!(
                code(&app.get(path, Some(&token)).await),
                (404, "room_not_found"),
                "{path}"
            );
        }
        let send = json!({"client_id": "c1", "body": "hello"});
        let answer = app
            .post(&format!("/api/rooms/{room}/messages"), Some(&token), send)
            .await;
        assert_eq!(code(&answer), (404, "room_not_found"));
        let answer = app
            .post(&format!("/api/rooms/{room}/join"), Some(&token), json!({}))
            .await;
        assert_eq!(code(&answer), (404, "room_not_found"));
    }
    let send = json!({"client_id": "c1", "body": "hello inside"});
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/messages", inside.id),
            Some(&token),
            send,
        )
        .await;
    assert_eq!(status, 201);
    let answer = app
        .post("/api/rooms", Some(&token), json!({"name": "Bot Room"}))
        .await;
    assert_eq!(code(&answer), (403, "forbidden"));

    // The socket, with the token as a query parameter: the same.
    let url = format!("ws://{}/ws?token={token}", app.addr);
    let mut ws = WsClient::connect_url(&url).await.expect("socket opens");
    let refused = ws
        .try_subscribe(&outside.id, None)
        .await
        .expect("an answer");
    assert_eq!(refused.answer["type"], "error");
    assert_eq!(refused.answer["code"], "room_not_found");
    ws.subscribe(&inside.id, None).await;
    let ack = ws.send_message(&inside.id, "c3", "over the socket").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    ws.send(json!({"type": "send", "room_id": outside.id, "client_id": "c4", "body": "no"}))
        .await;
    let refused = ws
        .expect_with("the refused send", |f| {
            (f["type"] == "error" && f["client_id"] == "c4").then(|| f.clone())
        })
        .await;
    assert_eq!(refused["code"], "room_not_found");

    // The owner sees the bot and its rooms.
    let (status, bots) = app.get("/api/bots", Some(&owner)).await;
    assert_eq!(status, 200);
    assert_eq!(bots[0]["user"]["id"], user["id"]);
    assert_eq!(bots[0]["room_ids"], json!([inside.id]));
}

async fn room_list_frames_skip_rooms_outside_a_bots_scope(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = person(&app, "lister").await;
    let inside = app.create_room(&owner, "Listed").await;
    let (_, token) = bot(&app, &owner, "list-bot", Some(&[&inside.id])).await;
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    ws.subscribe(&inside.id, None).await;
    let hidden = app.create_room(&owner, "Hidden").await;
    let send = json!({"client_id": "m1", "body": "marker"});
    app.post(
        &format!("/api/rooms/{}/messages", inside.id),
        Some(&owner),
        send,
    )
    .await;
    // Frames reach a socket in the order they were queued: the new room's room_list frame
    // (queued while it was created) would arrive before the marker message.
    loop {
        let frame = ws.next().await;
        assert!(
            !(frame["type"] == "room_list" && frame["room"]["id"] == hidden.id.as_str()),
            "a room outside its scope was announced to the bot: {frame}"
        );
        if frame["type"] == "event" && frame["event"]["message"]["body"] == "marker" {
            break;
        }
    }
}

async fn deleting_a_bot_or_rotating_its_token_revokes_the_old_one(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = person(&app, "keeper").await;
    let (_, stranger) = person(&app, "stranger").await;
    let room = app.create_room(&owner, "Bot Home").await;
    let (user, token) = bot(&app, &owner, "short-lived", Some(&[&room.id])).await;
    let id = user["id"].as_str().unwrap();
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;

    let answer = app
        .delete(&format!("/api/bots/{id}"), Some(&stranger))
        .await;
    assert_eq!(code(&answer), (404, "bot_not_found"));
    let answer = app
        .post(&format!("/api/bots/{id}/token"), Some(&stranger), json!({}))
        .await;
    assert_eq!(code(&answer), (404, "bot_not_found"));

    // Rotation: the new token works, the old one is refused and its socket closed.
    let (status, fresh) = app
        .post(&format!("/api/bots/{id}/token"), Some(&owner), json!({}))
        .await;
    assert_eq!(status, 201);
    let fresh = fresh["token"].as_str().unwrap().to_string();
    assert_eq!(
        code(&app.get("/api/me", Some(&token)).await),
        (401, "unauthenticated")
    );
    assert_eq!(ws.expect_close().await, crate::helpers::Closed::Code(1008));
    assert_eq!(app.get("/api/me", Some(&fresh)).await.0, 200);

    // Deletion: the token is refused everywhere and the bot leaves its room.
    let mut ws = app.ws(&fresh).await;
    ws.expect("hello").await;
    let (status, _) = app.delete(&format!("/api/bots/{id}"), Some(&owner)).await;
    assert_eq!(status, 204);
    assert_eq!(
        code(&app.get("/api/me", Some(&fresh)).await),
        (401, "unauthenticated")
    );
    assert_eq!(ws.expect_close().await, crate::helpers::Closed::Code(1008));
    let refused = WsClient::connect(&app.addr, Some(&fresh), None)
        .await
        .unwrap()
        .expect_close()
        .await;
    assert_eq!(refused, crate::helpers::Closed::Code(1008));
    let events = app.events(&owner, &room.id, 0).await;
    assert!(events.iter().any(|e| matches!(&e.kind,
        palaver::protocol::EventKind::MemberLeft { user: u } if u.id == id)));
    let (_, bots) = app.get("/api/bots", Some(&owner)).await;
    assert_eq!(bots, json!([]));
    let answer = app.delete(&format!("/api/bots/{id}"), Some(&owner)).await;
    assert_eq!(code(&answer), (404, "bot_not_found"));
}

async fn guests_cant_own_bots_and_bad_requests_are_refused(store: StoreKind) {
    let app = spawn_on_with(store, |config| config.max_bots_per_user = 2).await;
    let (_, guest) = app.guest("visitor").await;
    let answer = app
        .post("/api/bots", Some(&guest), json!({"username": "guest-bot"}))
        .await;
    assert_eq!(code(&answer), (403, "forbidden"));
    let answer = app
        .post("/api/bots", None, json!({"username": "nobody-bot"}))
        .await;
    assert_eq!(code(&answer), (401, "unauthenticated"));

    let (_, owner) = person(&app, "maker").await;
    let unknown = json!({"username": "lost-bot", "room_ids": ["no-such-room"]});
    assert_eq!(
        code(&app.post("/api/bots", Some(&owner), unknown).await),
        (404, "room_not_found")
    );
    let empty = json!({"username": "lost-bot", "room_ids": []});
    assert_eq!(
        code(&app.post("/api/bots", Some(&owner), empty).await),
        (400, "invalid_request")
    );
    let bad = json!({"username": "no spaces"});
    assert_eq!(
        code(&app.post("/api/bots", Some(&owner), bad).await),
        (400, "invalid_username")
    );
    let taken = json!({"username": "Maker"});
    assert_eq!(
        code(&app.post("/api/bots", Some(&owner), taken).await),
        (409, "username_taken")
    );
    let staff = json!({"username": "admin"});
    assert_eq!(
        code(&app.post("/api/bots", Some(&owner), staff).await),
        (400, "invalid_username")
    );
    // A bot has no password: it can't sign in with one.
    let (bot_user, bot_token) = bot(&app, &owner, "first-bot", None).await;
    let login = json!({"username": bot_user["username"], "password": ""});
    assert_eq!(app.post("/api/auth/login", None, login).await.0, 401);
    let answer = app
        .post(
            "/api/bots",
            Some(&bot_token),
            json!({"username": "bot-bot"}),
        )
        .await;
    assert_eq!(code(&answer), (403, "forbidden"));
    bot(&app, &owner, "second-bot", None).await;
    let third = json!({"username": "third-bot"});
    assert_eq!(
        code(&app.post("/api/bots", Some(&owner), third).await),
        (403, "too_many_bots")
    );
}

/// Bots made at the same time in the same rooms all join, each `member.joined` with its own seq
/// (on PostgreSQL each creation locks the rooms in one order, so none waits on another forever).
async fn bots_made_together_in_the_same_rooms_all_join(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = person(&app, "crowd").await;
    let first = app.create_room(&owner, "Busy One").await;
    let second = app.create_room(&owner, "Busy Two").await;
    let made = futures_util::future::join_all((0..6).map(|n| {
        // Half list the rooms in one order, half in the other.
        let rooms = if n % 2 == 0 {
            json!([first.id, second.id])
        } else {
            json!([second.id, first.id])
        };
        let request = json!({"username": format!("crowd-bot-{n}"), "room_ids": rooms});
        let owner = owner.clone();
        let app = &app;
        async move { app.post("/api/bots", Some(&owner), request).await }
    }))
    .await;
    for (status, body) in &made {
        assert_eq!(*status, 201, "{body}");
    }
    for room in [&first, &second] {
        let events = app.events(&owner, &room.id, 0).await;
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
        let bots_joined = events
            .iter()
            .filter(|e| {
                matches!(&e.kind,
                palaver::protocol::EventKind::MemberJoined { user } if user.bot)
            })
            .count();
        assert_eq!(bots_joined, 6);
    }
}

/// The Python example bot (standard library only) runs against the real server: it answers a
/// person's `!ping` with `pong`, then stops after one reply.
async fn the_python_example_bot_answers_ping(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = person(&app, "pinger").await;
    let room = app.create_room(&owner, "Ping Pong").await;
    let (user, token) = bot(&app, &owner, "pong-bot", Some(&[&room.id])).await;
    let mut ws = app.ws(&owner).await.with_wait(Duration::from_secs(60));
    ws.subscribe(&room.id, None).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bot.py");
    let child = tokio::process::Command::new("python3")
        .arg(script)
        .args(["--url", &app.url(""), "--room", &room.id])
        .args(["--after", "0", "--max-replies", "1", "--deadline", "60"])
        .env("PALAVER_BOT_TOKEN", &token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");

    let send = json!({"client_id": "ping-1", "body": "!ping please"});
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            Some(&owner),
            send,
        )
        .await;
    assert_eq!(status, 201);
    let pong = ws
        .expect_with("the bot's pong", |frame| {
            let message = &frame["event"]["message"];
            (frame["type"] == "event" && message["author"]["id"] == user["id"])
                .then(|| message.clone())
        })
        .await;
    assert_eq!(pong["body"], "pong");
    assert_eq!(pong["author"]["bot"], true);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the bot stops after its one reply")
        .expect("its output is read");
    assert!(
        output.status.success(),
        "bot.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // One pong, even though the bot read the log from the start.
    let pongs = app
        .history(&owner, &room.id)
        .await
        .into_iter()
        .filter(|m| m.body == "pong")
        .count();
    assert_eq!(pongs, 1);
}

crate::both_stores!(
    a_bot_token_reaches_only_its_rooms,
    room_list_frames_skip_rooms_outside_a_bots_scope,
    deleting_a_bot_or_rotating_its_token_revokes_the_old_one,
    guests_cant_own_bots_and_bad_requests_are_refused,
    bots_made_together_in_the_same_rooms_all_join,
    the_python_example_bot_answers_ping,
);
