//! Read markers and unread counts (issue #10), held by the server: they move only forward,
//! reach every device of the person (`read_marker`), count others' live messages and the
//! mentions among them, and survive a restart. Every test runs on SQLite and on PostgreSQL.

use palaver::protocol::{Room, User};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_on, StoreKind, TestApp, WsClient};
use crate::moderation::code;

/// `PUT path` with a JSON body: (status, body).
pub async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    palaver_client::rest::call(
        &app.http,
        Method::PUT,
        &app.url(path),
        Some(token),
        Some(&body),
    )
    .await
    .expect("request sent")
}

/// A registered account: (user, token); `session` signs in again (another device).
pub async fn register(app: &TestApp, name: &str) -> (User, String) {
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": name, "password": "correct horse battery staple"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let user: User = serde_json::from_value(body["user"].clone()).unwrap();
    (user, body["token"].as_str().unwrap().to_string())
}

/// Another session (device) of a registered account.
pub async fn session(app: &TestApp, name: &str) -> String {
    let (status, body) = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": name, "password": "correct horse battery staple"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// Posts a message over REST: its JSON.
pub async fn say(app: &TestApp, token: &str, room_id: &str, client_id: &str, body: &str) -> Value {
    let (status, message) = app
        .post(
            &format!("/api/rooms/{room_id}/messages"),
            Some(token),
            json!({"client_id": client_id, "body": body}),
        )
        .await;
    assert_eq!(status, 201, "{message}");
    message
}

/// The caller's unread entry of a room, if the room is listed.
pub async fn unread_of(app: &TestApp, token: &str, room_id: &str) -> Option<Value> {
    let (status, list) = app.get("/api/me/unread", Some(token)).await;
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["room_id"] == room_id)
        .cloned()
}

/// (unread, mentions, last_read_seq) of the caller in the room.
pub async fn counts(app: &TestApp, token: &str, room_id: &str) -> (u64, u64, u64) {
    let entry = unread_of(app, token, room_id)
        .await
        .expect("the room is listed");
    (
        entry["unread"].as_u64().unwrap(),
        entry["mentions"].as_u64().unwrap(),
        entry["last_read_seq"].as_u64().unwrap(),
    )
}

/// Pings and reads up to the pong: no frame of type `kind` may come before it.
pub async fn no_frame_of_type(ws: &mut WsClient, kind: &str) {
    ws.send(json!({"type": "ping", "ref": "quiet?"})).await;
    loop {
        let frame = ws.next().await;
        if frame["type"] == "pong" {
            return;
        }
        assert_ne!(frame["type"], kind, "no {kind} expected, got {frame}");
    }
}

/// A room of ann's that bob (registered, so he can have two sessions) joined.
async fn room_with_bob(store: StoreKind) -> (TestApp, (User, String), (User, String), Room) {
    let app = spawn_on(store).await;
    let ann = register(&app, "ann").await;
    let bob = register(&app, "bob").await;
    let room = app.create_room(&ann.1, "Reading").await;
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/join", room.id),
            Some(&bob.1),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    (app, ann, bob, room)
}

async fn read_markers_move_forward_and_reach_every_device(store: StoreKind) {
    let (app, (_, ann), (bob_user, bob), room) = room_with_bob(store).await;
    let bob_phone = session(&app, "bob").await;
    let mut laptop = app.ws(&bob).await;
    let mut phone = app.ws(&bob_phone).await;

    let first = say(&app, &ann, &room.id, "m1", "one").await;
    say(&app, &ann, &room.id, "m2", "two").await;
    let third = say(&app, &ann, &room.id, "m3", "three").await;
    // Bob's own message is never unread to him.
    say(&app, &bob, &room.id, "b1", "mine").await;
    assert_eq!(counts(&app, &bob, &room.id).await, (3, 0, 0));
    assert_eq!(counts(&app, &bob_phone, &room.id).await, (3, 0, 0));

    // Read up to the first message on the laptop: both devices hear it.
    let seq = first["seq"].as_u64().unwrap();
    let (status, _) = put(
        &app,
        &format!("/api/rooms/{}/read", room.id),
        &bob,
        json!({"seq": seq}),
    )
    .await;
    assert_eq!(status, 204);
    for ws in [&mut laptop, &mut phone] {
        let marker = ws.expect("read_marker").await;
        assert_eq!(
            marker,
            json!({"type": "read_marker", "room_id": room.id, "seq": seq})
        );
    }
    assert_eq!(counts(&app, &bob_phone, &room.id).await, (2, 0, seq));

    // A lower seq changes nothing and tells nobody.
    let (status, _) = put(
        &app,
        &format!("/api/rooms/{}/read", room.id),
        &bob_phone,
        json!({"seq": 1}),
    )
    .await;
    assert_eq!(status, 204);
    no_frame_of_type(&mut phone, "read_marker").await;
    no_frame_of_type(&mut laptop, "read_marker").await;
    assert_eq!(counts(&app, &bob, &room.id).await, (2, 0, seq));

    // The socket's `read` frame, from the phone, up to the third message.
    let third_seq = third["seq"].as_u64().unwrap();
    phone
        .send(json!({"type": "read", "room_id": room.id, "seq": third_seq, "ref": 1}))
        .await;
    for ws in [&mut laptop, &mut phone] {
        assert_eq!(ws.expect("read_marker").await["seq"], third_seq);
    }
    assert_eq!(counts(&app, &bob, &room.id).await, (0, 0, third_seq));

    // A seq past the room's end is clamped to its last seq.
    let last = app
        .get(&format!("/api/rooms/{}", room.id), Some(&bob))
        .await
        .1["last_seq"]
        .as_u64()
        .unwrap();
    let (status, _) = put(
        &app,
        &format!("/api/rooms/{}/read", room.id),
        &bob,
        json!({"seq": 1_000_000}),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(laptop.expect("read_marker").await["seq"], last);
    assert_eq!(counts(&app, &bob, &room.id).await.2, last);

    // Bad input: a clear error, on REST and on the socket.
    let (status, body) = put(
        &app,
        &format!("/api/rooms/{}/read", room.id),
        &bob,
        json!({"seq": -1}),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
    let (status, body) = put(
        &app,
        &format!("/api/rooms/{}/read", room.id),
        &bob,
        json!({}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    phone
        .send(json!({"type": "read", "room_id": "nope", "seq": 1, "ref": "r"}))
        .await;
    let error = phone.expect("error").await;
    assert_eq!(
        (error["code"].as_str(), &error["ref"]),
        (Some("room_not_found"), &json!("r"))
    );
    let _ = bob_user;
}

async fn counts_skip_deleted_messages_and_survive_a_restart(store: StoreKind) {
    let (app, (_, ann), (bob_user, bob), room) = room_with_bob(store).await;
    say(&app, &ann, &room.id, "m1", "hello").await;
    let mention = say(&app, &ann, &room.id, "m2", "@bob look").await;
    assert_eq!(mention["mentions"], json!([bob_user.id]));
    let gone = say(&app, &ann, &room.id, "m3", "oops @bob").await;
    assert_eq!(counts(&app, &bob, &room.id).await, (3, 2, 0));
    let (status, _) = app
        .delete(
            &format!(
                "/api/rooms/{}/messages/{}",
                room.id,
                gone["id"].as_str().unwrap()
            ),
            Some(&ann),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(counts(&app, &bob, &room.id).await, (2, 1, 0));
    let seq = mention["seq"].as_u64().unwrap() - 1;
    let (status, _) = put(
        &app,
        &format!("/api/rooms/{}/read", room.id),
        &bob,
        json!({"seq": seq}),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(counts(&app, &bob, &room.id).await, (1, 1, seq));

    let app = app.restart().await;
    assert_eq!(counts(&app, &bob, &room.id).await, (1, 1, seq));
    // And after the restart, counting goes on.
    say(&app, &ann, &room.id, "m4", "@BOB again").await;
    assert_eq!(counts(&app, &bob, &room.id).await, (2, 2, seq));
    // The history carries the mentions too.
    let history = app.history(&bob, &room.id).await;
    let last = history.last().unwrap();
    assert_eq!(last.mentions, vec![bob_user.id.clone()]);
}

async fn the_list_holds_the_callers_rooms_with_their_levels(store: StoreKind) {
    let (app, (_, ann), (_, bob), room) = room_with_bob(store).await;
    let (carol_user, carol) = register(&app, "carol").await;
    // Carol is in no room of ann's: a public room she has not joined is not listed.
    assert!(unread_of(&app, &carol, &room.id).await.is_none());
    let (status, dm) = app
        .post("/api/dms", Some(&ann), json!({"usernames": ["bob"]}))
        .await;
    assert!(status == 200 || status == 201, "{dm}");
    let dm_id = dm["id"].as_str().unwrap();
    let entry = unread_of(&app, &bob, dm_id)
        .await
        .expect("the DM is listed");
    assert_eq!(
        entry["notifications"], "all",
        "a DM notifies of everything by default"
    );
    let entry = unread_of(&app, &bob, &room.id).await.unwrap();
    assert_eq!(
        entry["notifications"], "mentions",
        "a room notifies of mentions by default"
    );
    assert_eq!(
        entry["last_seq"],
        room.last_seq + 1,
        "bob's join is the room's last event"
    );

    let path = format!("/api/rooms/{}/notifications", room.id);
    let (status, _) = put(&app, &path, &bob, json!({"level": "nothing"})).await;
    assert_eq!(status, 204);
    assert_eq!(
        unread_of(&app, &bob, &room.id).await.unwrap()["notifications"],
        "nothing"
    );
    let (status, body) = put(&app, &path, &bob, json!({"level": "loud"})).await;
    assert_eq!(status, 400, "{body}");

    // A private room: its outsiders get room_not_found on every path.
    let (status, private) = app
        .post(
            "/api/rooms",
            Some(&ann),
            json!({"name": "Secret", "kind": "private"}),
        )
        .await;
    assert_eq!(status, 201);
    let private_id = private["id"].as_str().unwrap();
    for (path, body) in [
        (format!("/api/rooms/{private_id}/read"), json!({"seq": 1})),
        (
            format!("/api/rooms/{private_id}/notifications"),
            json!({"level": "all"}),
        ),
    ] {
        let (status, answer) = put(&app, &path, &carol, body).await;
        assert_eq!((status, code(&answer)), (404, "room_not_found"), "{path}");
    }
    assert!(unread_of(&app, &carol, private_id).await.is_none());
    assert!(unread_of(&app, &ann, private_id).await.is_some());
    let _ = carol_user;
    let (status, _) = app.get("/api/me/unread", None).await;
    assert_eq!(status, 401);
}

crate::both_stores!(
    read_markers_move_forward_and_reach_every_device,
    counts_skip_deleted_messages_and_survive_a_restart,
    the_list_holds_the_callers_rooms_with_their_levels,
);
