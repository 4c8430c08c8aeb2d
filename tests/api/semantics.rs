//! Chat semantics (issue 3): presence, typing, edit and delete, rearranging, clear-for-all, the
//! HTTP long-poll fallback and the live room list. Every bad-input path asserts its error code
//! and that nothing changed (same history, same `last_seq`).
//!
//! (Over 500 lines: a catalogue of the chat's rules, one short test each.)

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with, TestApp, WsClient, WAIT};

// Helpers for this file.

/// Posts a message over REST and answers it.
async fn say(app: &TestApp, token: &str, room_id: &str, client_id: &str, body: &str) -> Value {
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

/// The room's `last_seq` as GET /api/rooms/{id} reports it.
async fn last_seq(app: &TestApp, token: &str, room_id: &str) -> u64 {
    let (status, room) = app.get(&format!("/api/rooms/{room_id}"), Some(token)).await;
    assert_eq!(status, 200, "{room}");
    room["last_seq"].as_u64().unwrap()
}

/// Everything observable about a room's messages: the history (id, body, position, edited_at)
/// and the room's last seq. Equal snapshots mean nothing changed.
async fn snapshot(app: &TestApp, token: &str, room_id: &str) -> (Vec<String>, u64) {
    let history = app
        .history(token, room_id)
        .await
        .into_iter()
        .map(|m| format!("{}|{}|{}|{:?}", m.id, m.body, m.position, m.edited_at))
        .collect();
    (history, last_seq(app, token, room_id).await)
}

/// History as message ids in display order.
async fn history_ids(app: &TestApp, token: &str, room_id: &str) -> Vec<String> {
    app.history(token, room_id)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect()
}

/// History bodies in display order.
async fn history_bodies(app: &TestApp, token: &str, room_id: &str) -> Vec<String> {
    app.history(token, room_id)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect()
}

fn id(message: &Value) -> String {
    message["id"].as_str().unwrap().to_string()
}

/// Frames up to and including the first that `done` accepts, within [`WAIT`] in all (the
/// server's keepalive pings would otherwise keep a per-frame deadline from ever expiring).
async fn frames_until(ws: &mut WsClient, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut frames = Vec::new();
    let read = async {
        loop {
            let frame = ws.next().await;
            let last = done(&frame);
            frames.push(frame);
            if last {
                return;
            }
        }
    };
    if tokio::time::timeout(WAIT, read).await.is_err() {
        panic!("the awaited frame did not come in time; got {frames:?}");
    }
    frames
}

/// The next frame of `type`, within [`WAIT`].
async fn expect(ws: &mut WsClient, kind: &str) -> Value {
    frames_until(ws, |f| f["type"] == kind).await.pop().unwrap()
}

/// The next event of `kind`, within [`WAIT`].
async fn expect_event(ws: &mut WsClient, kind: &str) -> Value {
    let frame = frames_until(ws, |f| f["type"] == "event" && f["event"]["kind"] == kind)
        .await
        .pop()
        .unwrap();
    frame["event"].clone()
}

/// The error frame answering the request with this `ref`.
async fn expect_error(ws: &mut WsClient, reference: &str) -> Value {
    frames_until(ws, |f| f["type"] == "error" && f["ref"] == reference)
        .await
        .pop()
        .unwrap()
}

fn user_ids(users: &Value) -> Vec<String> {
    let mut ids: Vec<String> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn has_user(users: &Value, user_id: &str) -> bool {
    users.as_array().unwrap().iter().any(|u| u["id"] == user_id)
}

/// Whether a frame is a `presence` frame of `room_id` naming `user_id` in `side` (joined/left).
fn is_presence(frame: &Value, room_id: &str, side: &str, user_id: &str) -> bool {
    frame["type"] == "presence" && frame["room_id"] == room_id && has_user(&frame[side], user_id)
}

/// Whether a frame is the `message.created` event of this body.
fn is_created(frame: &Value, body: &str) -> bool {
    frame["type"] == "event"
        && frame["event"]["kind"] == "message.created"
        && frame["event"]["message"]["body"] == body
}

/// (online flag per username) from GET …/members.
async fn online_members(app: &TestApp, token: &str, room_id: &str) -> HashMap<String, bool> {
    let (status, members) = app
        .get(&format!("/api/rooms/{room_id}/members"), Some(token))
        .await;
    assert_eq!(status, 200, "{members}");
    members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["username"].as_str().unwrap().to_string(),
                m["online"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn online_count(app: &TestApp, token: &str, room_id: &str) -> u64 {
    let (status, room) = app.get(&format!("/api/rooms/{room_id}"), Some(token)).await;
    assert_eq!(status, 200, "{room}");
    room["online_count"].as_u64().unwrap()
}

// Presence.

#[tokio::test]
async fn subscribers_see_who_is_online_and_who_comes_and_goes() {
    // Arrange
    let app = spawn_app().await;
    let (alice, alice_token) = app.guest("alice").await;
    let (bob, bob_token) = app.guest("bob").await;
    let (_, carol_token) = app.guest("carol").await;
    let room = app.create_room(&alice_token, "Lobby").await;
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/join", room.id),
            Some(&carol_token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let mut a = app.ws(&alice_token).await;
    let (_, subscribed) = a.subscribe(&room.id, None).await;
    assert_eq!(user_ids(&subscribed["online"]), [alice.id.as_str()]);

    // Act: bob comes online.
    let mut b = app.ws(&bob_token).await;
    let (_, subscribed) = b.subscribe(&room.id, None).await;

    // Assert
    let mut both = vec![alice.id.clone(), bob.id.clone()];
    both.sort();
    assert_eq!(user_ids(&subscribed["online"]), both);
    let frames = frames_until(&mut a, |f| is_presence(f, &room.id, "joined", &bob.id)).await;
    let presence = frames.last().unwrap();
    assert_eq!(presence["left"], json!([]), "{presence}");
    assert_eq!(online_count(&app, &carol_token, &room.id).await, 2);
    let online = online_members(&app, &carol_token, &room.id).await;
    assert_eq!(
        (online["alice"], online["bob"], online["carol"]),
        (true, true, false),
        "{online:?}"
    );

    // Act: bob goes.
    b.send(json!({"type": "unsubscribe", "room_id": room.id}))
        .await;
    expect(&mut b, "unsubscribed").await;

    // Assert
    let frames = frames_until(&mut a, |f| {
        f["type"] == "presence" && !f["left"].as_array().unwrap().is_empty()
    })
    .await;
    let presence = frames.last().unwrap();
    assert_eq!(user_ids(&presence["left"]), [bob.id.as_str()], "{presence}");
    assert_eq!(presence["joined"], json!([]), "{presence}");
    assert_eq!(online_count(&app, &carol_token, &room.id).await, 1);
    let online = online_members(&app, &carol_token, &room.id).await;
    assert_eq!(
        (online["alice"], online["bob"]),
        (true, false),
        "{online:?}"
    );
}

/// A `presence: "counts"` subscription is told how many are online, not who: its answer lists
/// nobody and carries the count, and its `presence` frames carry only the new count, while a
/// `full` subscriber of the same room still hears who came and went.
#[tokio::test]
async fn a_counts_subscription_is_told_how_many_are_online_not_who() {
    // Arrange
    let app = spawn_app().await;
    let (_, alice_token) = app.guest("alice").await;
    let (bob, bob_token) = app.guest("bob").await;
    let (_, carol_token) = app.guest("carol").await;
    let room = app.create_room(&alice_token, "Big").await;
    let mut a = app.ws(&alice_token).await;
    a.subscribe(&room.id, None).await;

    // Act: carol follows the room by counts.
    let mut c = app.ws(&carol_token).await;
    c.send(json!({"type": "subscribe", "room_id": room.id, "presence": "counts"}))
        .await;
    let subscribed = expect(&mut c, "subscribed").await;

    // Assert
    assert_eq!(subscribed["online"], json!([]), "{subscribed}");
    assert_eq!(subscribed["online_count"], 2, "{subscribed}");
    frames_until(&mut a, |f| f["type"] == "presence").await;

    // Act: bob comes online.
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;

    // Assert: carol hears the count, alice hears who.
    let frames = frames_until(&mut c, |f| {
        f["type"] == "presence" && f["online_count"] == 3
    })
    .await;
    for frame in frames.iter().filter(|f| f["type"] == "presence") {
        assert_eq!(
            (&frame["joined"], &frame["left"]),
            (&json!([]), &json!([])),
            "{frame}"
        );
    }
    let frames = frames_until(&mut a, |f| is_presence(f, &room.id, "joined", &bob.id)).await;
    let presence = frames.last().unwrap();
    assert!(presence.get("online_count").is_none(), "{presence}");
    assert_eq!(online_count(&app, &carol_token, &room.id).await, 3);

    // Act: bob and alice go.
    drop(b);
    a.send(json!({"type": "unsubscribe", "room_id": room.id}))
        .await;

    // Assert
    frames_until(&mut c, |f| {
        f["type"] == "presence" && f["online_count"] == 1
    })
    .await;
}

/// A subscribe asking for a presence mode there is not is refused, and subscribes nothing.
#[tokio::test]
async fn an_unknown_presence_mode_is_an_invalid_frame() {
    let app = spawn_app().await;
    let (_, token) = app.guest("alice").await;
    let room = app.create_room(&token, "Lobby").await;
    let mut ws = app.ws(&token).await;
    ws.send(json!({"type": "subscribe", "room_id": room.id, "presence": "some", "ref": "s"}))
        .await;
    let error = expect_error(&mut ws, "s").await;
    assert_eq!(error["code"], "invalid_frame", "{error}");
    assert_eq!(online_count(&app, &token, &room.id).await, 0);
}

#[tokio::test]
async fn a_user_with_two_sockets_is_online_once_and_leaves_with_the_last() {
    // The connection cap (2) lets the test know when the server has let go of bob's first
    // socket: a third one is accepted only then.
    let app = spawn_with(|c| c.max_connections_per_user = 2).await;
    let (alice, alice_token) = app.guest("alice").await;
    let (bob, bob_token) = app.guest("bob").await;
    let (carol, carol_token) = app.guest("carol").await;
    let room = app.create_room(&alice_token, "Tabs").await;
    let mut a = app.ws(&alice_token).await;
    a.subscribe(&room.id, None).await;
    let mut b1 = app.ws(&bob_token).await;
    b1.subscribe(&room.id, None).await;
    let mut b2 = app.ws(&bob_token).await;
    let (_, subscribed) = b2.subscribe(&room.id, None).await;
    let mut expected = vec![alice.id.clone(), bob.id.clone()];
    expected.sort();
    assert_eq!(
        user_ids(&subscribed["online"]),
        expected,
        "bob is listed once"
    );
    assert_eq!(online_count(&app, &alice_token, &room.id).await, 2);
    frames_until(&mut a, |f| is_presence(f, &room.id, "joined", &bob.id)).await;

    // Act: bob closes one of his two sockets; wait until the server has dropped it.
    b1.close().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob's closed socket is never released"
        );
        let mut b3 = app.ws(&bob_token).await;
        let first = b3.next_or_close().await;
        match first {
            Ok(frame) if frame["type"] == "hello" => break,
            Ok(frame) => assert_eq!(frame["code"], "too_many_connections", "{frame}"),
            Err(closed) => panic!("closed without an error frame: {closed:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A later presence change (carol) is the marker: nothing said bob left before it.
    let mut c = app.ws(&carol_token).await;
    c.subscribe(&room.id, None).await;
    let frames = frames_until(&mut a, |f| is_presence(f, &room.id, "joined", &carol.id)).await;

    // Assert
    for frame in &frames {
        assert!(
            !is_presence(frame, &room.id, "left", &bob.id),
            "bob still has a socket: {frame}"
        );
    }
    assert_eq!(online_count(&app, &alice_token, &room.id).await, 3);
    assert!(online_members(&app, &alice_token, &room.id).await["bob"]);

    // Act: the last socket closes.
    b2.close().await;

    // Assert
    frames_until(&mut a, |f| is_presence(f, &room.id, "left", &bob.id)).await;
    assert_eq!(online_count(&app, &alice_token, &room.id).await, 2);
    assert!(!online_members(&app, &alice_token, &room.id).await["bob"]);
}

#[tokio::test]
async fn a_connection_dropped_without_a_close_frame_shows_as_left() {
    // Arrange
    let app = spawn_app().await;
    let (_, alice_token) = app.guest("alice").await;
    let (bob, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Flaky").await;
    let mut a = app.ws(&alice_token).await;
    a.subscribe(&room.id, None).await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;
    frames_until(&mut a, |f| is_presence(f, &room.id, "joined", &bob.id)).await;

    // Act: the TCP connection goes away; no close frame is sent.
    drop(b.into_inner());

    // Assert
    frames_until(&mut a, |f| is_presence(f, &room.id, "left", &bob.id)).await;
    assert_eq!(online_count(&app, &alice_token, &room.id).await, 1);
    assert!(!online_members(&app, &alice_token, &room.id).await["bob"]);
}

// Typing.

#[tokio::test]
async fn typing_is_relayed_once_per_burst_to_the_other_subscribers_only() {
    // Arrange: alice has two sockets in the room, bob one.
    let app = spawn_app().await;
    let (alice, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Keys").await;
    let mut a1 = app.ws(&alice_token).await;
    a1.subscribe(&room.id, None).await;
    let mut a2 = app.ws(&alice_token).await;
    a2.subscribe(&room.id, None).await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;

    // Act: two typing frames in quick succession (well within 2 s), then a message as marker.
    a1.send(json!({"type": "typing", "room_id": room.id})).await;
    a1.send(json!({"type": "typing", "room_id": room.id})).await;
    a1.send(json!({"type": "ping", "ref": "after-typing"}))
        .await;
    let own = frames_until(&mut a1, |f| f["type"] == "pong").await;
    let ack = a1.send_message(&room.id, "marker", "done typing").await;
    assert_eq!(ack["type"], "ack", "{ack}");

    // Assert: bob got exactly one typing frame, with alice, before the message.
    let seen = frames_until(&mut b, |f| is_created(f, "done typing")).await;
    let typing: Vec<&Value> = seen.iter().filter(|f| f["type"] == "typing").collect();
    assert_eq!(typing.len(), 1, "{seen:?}");
    assert_eq!(typing[0]["room_id"], room.id.as_str());
    assert_eq!(typing[0]["user"]["id"], alice.id.as_str());
    // Neither of alice's own sockets hears her typing.
    let seen = frames_until(&mut a2, |f| is_created(f, "done typing")).await;
    assert!(seen.iter().all(|f| f["type"] != "typing"), "{seen:?}");
    assert!(
        own.iter()
            .all(|f| f["type"] != "typing" && f["type"] != "error"),
        "{own:?}"
    );
}

#[tokio::test]
async fn typing_over_rest_is_relayed_to_subscribers() {
    // Arrange
    let app = spawn_app().await;
    let (alice, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Fallback Keys").await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;

    // Act
    let (status, body) = app
        .post(
            &format!("/api/rooms/{}/typing", room.id),
            Some(&alice_token),
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(status, 204, "{body}");
    let typing = expect(&mut b, "typing").await;
    assert_eq!(typing["room_id"], room.id.as_str());
    assert_eq!(typing["user"]["id"], alice.id.as_str());
    let (status, body) = app
        .post(
            "/api/rooms/no-such-room/typing",
            Some(&alice_token),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("room_not_found"))
    );
}

#[tokio::test]
async fn typing_in_a_room_one_is_not_subscribed_to_is_an_error() {
    // Arrange
    let app = spawn_app().await;
    let (_, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Elsewhere").await;
    let mut a = app.ws(&alice_token).await;
    expect(&mut a, "hello").await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;

    // Act
    a.send(json!({"type": "typing", "room_id": room.id})).await;

    // Assert
    let frame = frames_until(&mut a, |f| f["type"] == "error")
        .await
        .pop()
        .unwrap();
    assert_eq!(frame["code"], "invalid_request", "{frame}");
    // …and bob heard nothing before a later message.
    say(&app, &alice_token, &room.id, "m1", "marker").await;
    let seen = frames_until(&mut b, |f| is_created(f, "marker")).await;
    assert!(seen.iter().all(|f| f["type"] != "typing"), "{seen:?}");
}

// Edit and delete.

#[tokio::test]
async fn only_the_author_edits_a_message_and_everyone_sees_the_edit() {
    // Arrange
    let app = spawn_app().await;
    let (alice, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Edits").await;
    let mut a = app.ws(&alice_token).await;
    a.subscribe(&room.id, None).await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;
    let ack = a.send_message(&room.id, "a1", "helo wrld").await;
    let message_id = ack["message"]["id"].as_str().unwrap().to_string();
    let before = snapshot(&app, &alice_token, &room.id).await;

    // Act + Assert: bob may not edit alice's message, over the socket or REST.
    b.send(
        json!({"type": "edit", "room_id": room.id, "message_id": message_id,
                  "body": "bob was here", "ref": "e1"}),
    )
    .await;
    let error = expect_error(&mut b, "e1").await;
    assert_eq!(error["code"], "forbidden", "{error}");
    let path = format!("/api/rooms/{}/messages/{message_id}", room.id);
    let (status, body) = app
        .patch(&path, Some(&bob_token), json!({"body": "bob was here"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(snapshot(&app, &alice_token, &room.id).await, before);

    // Act: alice edits over the socket.
    a.send(
        json!({"type": "edit", "room_id": room.id, "message_id": message_id,
                  "body": "hello world", "ref": "e2"}),
    )
    .await;

    // Assert
    for ws in [&mut a, &mut b] {
        let event = expect_event(ws, "message.edited").await;
        assert_eq!(event["message"]["id"], message_id.as_str());
        assert_eq!(event["message"]["body"], "hello world");
        assert_eq!(event["message"]["author"]["id"], alice.id.as_str());
        assert!(event["message"]["edited_at"].is_string(), "{event}");
        assert_eq!(event["seq"], before.1 + 1);
    }
    let history = app.history(&bob_token, &room.id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].body, "hello world");
    assert!(history[0].edited_at.is_some());

    // And again over REST.
    let (status, edited) = app
        .patch(&path, Some(&alice_token), json!({"body": "hello, world"}))
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["body"], "hello, world");
    assert!(edited["edited_at"].is_string());
    assert_eq!(
        expect_event(&mut b, "message.edited").await["message"]["body"],
        "hello, world"
    );
    assert_eq!(
        history_bodies(&app, &bob_token, &room.id).await,
        ["hello, world"]
    );
}

#[tokio::test]
async fn the_author_or_the_owner_deletes_a_message_but_a_plain_member_cannot() {
    // Arrange: alice owns the room; bob and carol are plain members.
    let app = spawn_app().await;
    let (_, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let (_, carol_token) = app.guest("carol").await;
    let room = app.create_room(&alice_token, "Deletes").await;
    let mut a = app.ws(&alice_token).await;
    a.subscribe(&room.id, None).await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;
    let mut c = app.ws(&carol_token).await;
    c.subscribe(&room.id, None).await;
    let b1 = id(&say(&app, &bob_token, &room.id, "b1", "bob's regrettable words").await);
    let b2 = id(&say(&app, &bob_token, &room.id, "b2", "bob keeps this").await);
    let c1 = id(&say(&app, &carol_token, &room.id, "c1", "carol's rude remark").await);
    let before = snapshot(&app, &alice_token, &room.id).await;

    // Act + Assert: carol may not delete bob's message, over the socket or REST.
    c.send(json!({"type": "delete", "room_id": room.id, "message_id": b1, "ref": "d1"}))
        .await;
    assert_eq!(expect_error(&mut c, "d1").await["code"], "forbidden");
    let (status, body) = app
        .delete(
            &format!("/api/rooms/{}/messages/{b1}", room.id),
            Some(&carol_token),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(snapshot(&app, &alice_token, &room.id).await, before);

    // Act: bob deletes his own over the socket; alice (owner) deletes carol's over REST.
    b.send(json!({"type": "delete", "room_id": room.id, "message_id": b1, "ref": "d2"}))
        .await;
    let event = expect_event(&mut a, "message.deleted").await;
    assert_eq!(event["message_id"], b1.as_str());
    let (status, _) = app
        .delete(
            &format!("/api/rooms/{}/messages/{c1}", room.id),
            Some(&alice_token),
        )
        .await;
    assert_eq!(status, 204);

    // Assert
    for ws in [&mut b, &mut c] {
        let event = expect_event(ws, "message.deleted").await;
        assert_eq!(event["message_id"], b1.as_str());
        let event = expect_event(ws, "message.deleted").await;
        assert_eq!(event["message_id"], c1.as_str());
    }
    assert_eq!(history_ids(&app, &alice_token, &room.id).await, [b2]);
    let (status, log) = app
        .get(
            &format!("/api/rooms/{}/events?after=0&limit=1000", room.id),
            Some(&alice_token),
        )
        .await;
    assert_eq!(status, 200);
    let log = log.to_string();
    assert!(
        log.contains("bob keeps this"),
        "the log still has kept messages"
    );
    assert!(
        !log.contains("regrettable"),
        "a deleted body stays in the log: {log}"
    );
    assert!(
        !log.contains("rude remark"),
        "a deleted body stays in the log: {log}"
    );
    // A deleted message can't be deleted again.
    let (status, body) = app
        .delete(
            &format!("/api/rooms/{}/messages/{b1}", room.id),
            Some(&bob_token),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("message_not_found"))
    );
}

// Rearranging.

/// Sends three messages m1, m2, m3 as `token`; their ids.
async fn three_messages(app: &TestApp, token: &str, room_id: &str) -> [String; 3] {
    [
        id(&say(app, token, room_id, "m1", "one").await),
        id(&say(app, token, room_id, "m2", "two").await),
        id(&say(app, token, room_id, "m3", "three").await),
    ]
}

fn move_frame(room_id: &str, message_id: &str, after: Option<&str>, reference: &str) -> Value {
    json!({"type": "move", "room_id": room_id, "message_id": message_id, "after": after,
           "ref": reference})
}

async fn rest_move(
    app: &TestApp,
    token: &str,
    room_id: &str,
    message_id: &str,
    after: Option<&str>,
) -> (u16, Value) {
    app.post(
        &format!("/api/rooms/{room_id}/messages/{message_id}/move"),
        Some(token),
        json!({ "after": after }),
    )
    .await
}

#[tokio::test]
async fn a_message_moves_over_the_socket_and_over_rest_and_history_follows() {
    // Arrange
    let app = spawn_app().await;
    let (_, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Shuffle").await;
    let [m1, m2, m3] = three_messages(&app, &alice_token, &room.id).await;
    let mut a = app.ws(&alice_token).await;
    a.subscribe(&room.id, None).await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;

    // Act: bob (a plain member; the default is "anyone") moves m3 between m1 and m2.
    b.send(move_frame(&room.id, &m3, Some(&m1), "mv1")).await;

    // Assert
    let mut positions = Vec::new();
    for ws in [&mut a, &mut b] {
        let event = expect_event(ws, "message.moved").await;
        assert_eq!(event["message_id"], m3.as_str());
        assert_eq!(event["after"], m1.as_str());
        positions.push(event["position"].clone());
    }
    let history = app.history(&alice_token, &room.id).await;
    let ids: Vec<&str> = history.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [m1.as_str(), m3.as_str(), m2.as_str()]);
    assert_eq!(positions, [history[1].position.as_str(); 2]);
    assert!(history[0].position < history[1].position && history[1].position < history[2].position);

    // Act: alice moves m2 to the top over REST.
    let (status, moved) = rest_move(&app, &alice_token, &room.id, &m2, None).await;

    // Assert
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["id"], m2.as_str());
    for ws in [&mut a, &mut b] {
        let event = expect_event(ws, "message.moved").await;
        assert_eq!(event["message_id"], m2.as_str());
        assert_eq!(event["after"], Value::Null);
        assert_eq!(event["position"], moved["position"]);
    }
    assert_eq!(
        history_ids(&app, &bob_token, &room.id).await,
        [m2.clone(), m1.clone(), m3.clone()]
    );
}

#[tokio::test]
async fn a_move_after_a_missing_message_or_of_another_rooms_message_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let (_, token) = app.guest("alice").await;
    let room = app.create_room(&token, "Here").await;
    let other = app.create_room(&token, "There").await;
    let [m1, _, m3] = three_messages(&app, &token, &room.id).await;
    let elsewhere = id(&say(&app, &token, &other.id, "x1", "elsewhere").await);
    let mut ws = app.ws(&token).await;
    ws.subscribe(&room.id, None).await;
    let before = snapshot(&app, &token, &room.id).await;
    let other_before = snapshot(&app, &token, &other.id).await;

    // Act + Assert: `after` names no message.
    ws.send(move_frame(&room.id, &m3, Some("no-such-message"), "bad1"))
        .await;
    assert_eq!(
        expect_error(&mut ws, "bad1").await["code"],
        "message_not_found"
    );
    let (status, body) = rest_move(&app, &token, &room.id, &m3, Some("no-such-message")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("message_not_found"))
    );
    // `after` names a message of another room.
    let (status, body) = rest_move(&app, &token, &room.id, &m3, Some(&elsewhere)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("message_not_found"))
    );
    // The message moved belongs to another room.
    ws.send(move_frame(&room.id, &elsewhere, Some(&m1), "bad2"))
        .await;
    assert_eq!(
        expect_error(&mut ws, "bad2").await["code"],
        "message_not_found"
    );
    let (status, body) = rest_move(&app, &token, &room.id, &elsewhere, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("message_not_found"))
    );

    // Assert: nothing changed in either room.
    assert_eq!(snapshot(&app, &token, &room.id).await, before);
    assert_eq!(snapshot(&app, &token, &other.id).await, other_before);
}

#[tokio::test]
async fn the_rearrange_setting_decides_who_may_move() {
    // Arrange: alice owns the room; bob is a plain member.
    let app = spawn_app().await;
    let (_, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Strict").await;
    let [m1, m2, m3] = three_messages(&app, &alice_token, &room.id).await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;
    let patch_path = format!("/api/rooms/{}", room.id);

    // Act: moderators only.
    let (status, patched) = app
        .patch(
            &patch_path,
            Some(&alice_token),
            json!({"rearrange": "moderators"}),
        )
        .await;
    assert_eq!(
        (status, patched["rearrange"].as_str()),
        (200, Some("moderators"))
    );
    let before = snapshot(&app, &alice_token, &room.id).await;

    // Assert: bob can't, over either transport; alice can.
    b.send(move_frame(&room.id, &m3, None, "mv1")).await;
    assert_eq!(expect_error(&mut b, "mv1").await["code"], "forbidden");
    let (status, body) = rest_move(&app, &bob_token, &room.id, &m3, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(snapshot(&app, &alice_token, &room.id).await, before);
    let (status, moved) = rest_move(&app, &alice_token, &room.id, &m3, None).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        history_ids(&app, &alice_token, &room.id).await,
        [m3.clone(), m1.clone(), m2.clone()]
    );

    // Act: nobody.
    let (status, patched) = app
        .patch(
            &patch_path,
            Some(&alice_token),
            json!({"rearrange": "nobody"}),
        )
        .await;
    assert_eq!(
        (status, patched["rearrange"].as_str()),
        (200, Some("nobody"))
    );
    let before = snapshot(&app, &alice_token, &room.id).await;

    // Assert: not even the owner.
    for token in [&alice_token, &bob_token] {
        let (status, body) = rest_move(&app, token, &room.id, &m1, Some(&m2)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden"))
        );
    }
    b.send(move_frame(&room.id, &m1, Some(&m2), "mv2")).await;
    assert_eq!(expect_error(&mut b, "mv2").await["code"], "forbidden");
    assert_eq!(snapshot(&app, &alice_token, &room.id).await, before);

    // Act: anyone again.
    let (status, _) = app
        .patch(
            &patch_path,
            Some(&alice_token),
            json!({"rearrange": "anyone"}),
        )
        .await;
    assert_eq!(status, 200);
    b.send(move_frame(&room.id, &m1, Some(&m2), "mv3")).await;

    // Assert
    assert_eq!(
        expect_event(&mut b, "message.moved").await["message_id"],
        m1.as_str()
    );
    assert_eq!(
        history_ids(&app, &alice_token, &room.id).await,
        [m3.clone(), m2.clone(), m1.clone()]
    );
}

#[tokio::test]
async fn patching_rearrange_with_an_unknown_value_or_as_a_non_owner_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let (_, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Settled").await;
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/join", room.id),
            Some(&bob_token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let path = format!("/api/rooms/{}", room.id);
    let (_, before) = app.get(&path, Some(&alice_token)).await;
    assert_eq!(before["rearrange"], "anyone");

    // Act + Assert
    for bad in ["everyone", "ANYONE", ""] {
        let (status, body) = app
            .patch(&path, Some(&alice_token), json!({"rearrange": bad}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{bad:?}"
        );
    }
    let (status, body) = app
        .patch(&path, Some(&alice_token), json!({"rearrange": 3}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = app
        .patch(
            &path,
            Some(&bob_token),
            json!({"rearrange": "nobody", "name": "Bob's now"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    // An unknown value in a patch that also renames renames nothing.
    let (status, _) = app
        .patch(
            &path,
            Some(&alice_token),
            json!({"rearrange": "sometimes", "name": "Renamed"}),
        )
        .await;
    assert_eq!(status, 400);

    // Assert: nothing changed.
    let (_, after) = app.get(&path, Some(&alice_token)).await;
    assert_eq!(after, before);
}

/// A client's view of a room's order: message id → position, updated from `message.moved`.
struct LocalOrder(HashMap<String, String>);

impl LocalOrder {
    fn apply(&mut self, event: &Value) {
        if event["kind"] == "message.moved" {
            let id = event["message_id"].as_str().unwrap().to_string();
            let position = event["position"].as_str().unwrap().to_string();
            assert!(
                self.0.contains_key(&id),
                "a move of an unknown message: {event}"
            );
            self.0.insert(id, position);
        }
    }

    fn ids(&self) -> Vec<String> {
        let mut entries: Vec<(&String, &String)> = self.0.iter().collect();
        entries.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
        entries.into_iter().map(|(id, _)| id.clone()).collect()
    }
}

/// Sends the frames, then a ping whose pong says they were all carried out.
async fn send_then_ping(ws: &mut WsClient, frames: Vec<Value>, done: &str) {
    for frame in frames {
        ws.send(frame).await;
    }
    ws.send(json!({"type": "ping", "ref": done})).await;
}

/// Applies the frames already read, then reads events until the one with `last`.
async fn catch_up(ws: &mut WsClient, order: &mut LocalOrder, seen: Vec<Value>, last: u64) {
    let mut seq = 0;
    for frame in seen {
        assert_ne!(frame["type"], "error", "{frame}");
        if frame["type"] == "event" {
            order.apply(&frame["event"]);
            seq = frame["event"]["seq"].as_u64().unwrap();
        }
    }
    while seq < last {
        let frame = expect(ws, "event").await;
        order.apply(&frame["event"]);
        seq = frame["event"]["seq"].as_u64().unwrap();
    }
}

#[tokio::test]
async fn concurrent_moves_of_one_message_converge_on_every_client() {
    // Arrange
    let app = spawn_with(|c| c.rate_per_sec = 0).await;
    let (_, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Tug Of War").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(id(&say(
            &app,
            &alice_token,
            &room.id,
            &format!("c{i}"),
            &format!("m{i}"),
        )
        .await));
    }
    let start: HashMap<String, String> = app
        .history(&alice_token, &room.id)
        .await
        .into_iter()
        .map(|m| (m.id, m.position))
        .collect();
    let mut a = app.ws(&alice_token).await;
    a.subscribe(&room.id, None).await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;
    let mut a_order = LocalOrder(start.clone());
    let mut b_order = LocalOrder(start);

    // Act: both drag message 0 around at the same time, to different places.
    let target = ids[0].clone();
    let a_moves: Vec<Value> = (0..15)
        .map(|i| {
            let after = [Some(ids[2].as_str()), Some(ids[4].as_str()), None][i % 3];
            move_frame(&room.id, &target, after, &format!("a{i}"))
        })
        .collect();
    let b_moves: Vec<Value> = (0..15)
        .map(|i| {
            let after = [
                Some(ids[5].as_str()),
                Some(ids[1].as_str()),
                Some(ids[3].as_str()),
            ][i % 3];
            move_frame(&room.id, &target, after, &format!("b{i}"))
        })
        .collect();
    tokio::join!(
        send_then_ping(&mut a, a_moves, "a-done"),
        send_then_ping(&mut b, b_moves, "b-done")
    );
    // A pong answers after every earlier frame of that socket was carried out.
    let a_seen = frames_until(&mut a, |f| f["type"] == "pong").await;
    let b_seen = frames_until(&mut b, |f| f["type"] == "pong").await;
    let last = last_seq(&app, &alice_token, &room.id).await;
    catch_up(&mut a, &mut a_order, a_seen, last).await;
    catch_up(&mut b, &mut b_order, b_seen, last).await;

    // Assert
    let store = history_ids(&app, &alice_token, &room.id).await;
    assert_eq!(a_order.ids(), store);
    assert_eq!(b_order.ids(), store);
    let moved = app
        .events(&alice_token, &room.id, 0)
        .await
        .iter()
        .filter(|e| e.kind.name() == "message.moved")
        .count();
    assert!(moved >= 30, "every move is an event: {moved}");
}

// Clear-for-all.

#[tokio::test]
async fn the_owner_clears_a_room_for_everyone_and_sending_works_after() {
    // Arrange
    let app = spawn_app().await;
    let (alice, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Whiteboard").await;
    three_messages(&app, &bob_token, &room.id).await;
    let mut a = app.ws(&alice_token).await;
    a.subscribe(&room.id, None).await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;

    // Act: the owner clears over the socket.
    a.send(json!({"type": "clear", "room_id": room.id, "ref": "c1"}))
        .await;

    // Then sends (the socket carries out its frames in order) and reads up to that message.
    a.send(
        json!({"type": "send", "room_id": room.id, "client_id": "after",
                  "body": "fresh start"}),
    )
    .await;

    // Assert: exactly one room.cleared reaches each subscriber before the next message.
    for ws in [&mut a, &mut b] {
        let seen = frames_until(ws, |f| is_created(f, "fresh start")).await;
        let cleared: Vec<&Value> = seen
            .iter()
            .filter(|f| f["type"] == "event" && f["event"]["kind"] == "room.cleared")
            .collect();
        assert_eq!(cleared.len(), 1, "{seen:?}");
        assert_eq!(cleared[0]["event"]["by"]["id"], alice.id.as_str());
        assert!(seen.iter().all(|f| f["type"] != "error"), "{seen:?}");
    }
    assert_eq!(
        history_bodies(&app, &bob_token, &room.id).await,
        ["fresh start"]
    );

    // Act: and over REST.
    let (status, body) = app
        .post(
            &format!("/api/rooms/{}/clear", room.id),
            Some(&alice_token),
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(status, 204, "{body}");
    expect_event(&mut b, "room.cleared").await;
    assert!(history_ids(&app, &alice_token, &room.id).await.is_empty());
    let log = app.events(&alice_token, &room.id, 0).await;
    assert_eq!(
        log.iter()
            .filter(|e| e.kind.name() == "room.cleared")
            .count(),
        2
    );
    let (_, raw) = app
        .get(
            &format!("/api/rooms/{}/events?after=0", room.id),
            Some(&alice_token),
        )
        .await;
    assert!(!raw.to_string().contains("fresh start"), "{raw}");
}

#[tokio::test]
async fn a_plain_member_cannot_clear_a_room() {
    // Arrange
    let app = spawn_app().await;
    let (_, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Keep It").await;
    three_messages(&app, &bob_token, &room.id).await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;
    let before = snapshot(&app, &alice_token, &room.id).await;

    // Act + Assert
    b.send(json!({"type": "clear", "room_id": room.id, "ref": "c1"}))
        .await;
    assert_eq!(expect_error(&mut b, "c1").await["code"], "forbidden");
    let (status, body) = app
        .post(
            &format!("/api/rooms/{}/clear", room.id),
            Some(&bob_token),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );

    // Assert
    assert_eq!(snapshot(&app, &alice_token, &room.id).await, before);
    assert_eq!(before.0.len(), 3);
}

// The HTTP fallback.

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_an_event_exists() {
    // Arrange
    let app = spawn_app().await;
    let (_, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Patience").await;
    let mut b = app.ws(&bob_token).await;
    b.subscribe(&room.id, None).await;
    let after = last_seq(&app, &alice_token, &room.id).await;
    let path = format!("/api/rooms/{}/events?after={after}&wait=5", room.id);

    // Act: the poll waits while bob sends from his socket.
    let poll = app.get(&path, Some(&alice_token));
    let send = async {
        let ack = b.send_message(&room.id, "b1", "wake up").await;
        assert_eq!(ack["type"], "ack", "{ack}");
    };
    let ((status, page), ()) =
        tokio::time::timeout(Duration::from_secs(4), async { tokio::join!(poll, send) })
            .await
            .expect("the long-poll answers well before its 5 s wait");

    // Assert
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().unwrap();
    assert!(!events.is_empty(), "{page}");
    let created: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "message.created")
        .collect();
    assert_eq!(created.len(), 1, "{page}");
    assert_eq!(created[0]["message"]["body"], "wake up");
    assert!(events.iter().all(|e| e["seq"].as_u64().unwrap() > after));
}

#[tokio::test]
async fn a_long_poll_with_nothing_happening_answers_an_empty_list_and_wait_is_at_most_30() {
    // Arrange
    let app = spawn_app().await;
    let (_, token) = app.guest("alice").await;
    let room = app.create_room(&token, "Silence").await;
    let after = last_seq(&app, &token, &room.id).await;

    // Act
    let (status, page) = tokio::time::timeout(
        WAIT,
        app.get(
            &format!("/api/rooms/{}/events?after={after}&wait=1", room.id),
            Some(&token),
        ),
    )
    .await
    .expect("a 1 s long-poll answers");

    // Assert
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["events"], json!([]));
    assert_eq!(page["last_seq"], after);
    let (status, body) = app
        .get(
            &format!("/api/rooms/{}/events?after={after}&wait=31", room.id),
            Some(&token),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_long_poll_client_and_a_websocket_client_converse() {
    // Arrange: polly has no socket; wes does.
    let app = spawn_app().await;
    let (_, polly_token) = app.guest("polly").await;
    let (_, wes_token) = app.guest("wes").await;
    let room = app.create_room(&polly_token, "Mixed").await;
    let mut wes = app.ws(&wes_token).await;
    wes.subscribe(&room.id, None).await;
    let mut cursor = last_seq(&app, &polly_token, &room.id).await;
    let mut polly_sees: Vec<String> = Vec::new();
    let mut wes_sees: Vec<String> = Vec::new();

    for round in 0..3 {
        // Act: polly speaks over REST; wes hears it and answers over the socket.
        let line = format!("polly says {round}");
        say(&app, &polly_token, &room.id, &format!("p{round}"), &line).await;
        let heard = expect_event(&mut wes, "message.created").await;
        assert_eq!(heard["message"]["body"], line.as_str());
        wes_sees.push(line);
        let reply = format!("wes says {round}");
        // (The ack and the reply's own event may come in either order.)
        wes.send(
            json!({"type": "send", "room_id": room.id, "client_id": format!("w{round}"),
                        "body": reply}),
        )
        .await;
        let mut acked = false;
        let mut echoed = false;
        while !(acked && echoed) {
            let frame = wes.next().await;
            assert_ne!(frame["type"], "error", "{frame}");
            acked |= frame["type"] == "ack";
            if frame["type"] == "event" && frame["event"]["kind"] == "message.created" {
                assert!(!echoed, "one message, one event: {frame}");
                echoed = true;
                wes_sees.push(
                    frame["event"]["message"]["body"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
        }

        // Polly long-polls until wes's reply arrives.
        loop {
            let (status, page) = app
                .get(
                    &format!("/api/rooms/{}/events?after={cursor}&wait=5", room.id),
                    Some(&polly_token),
                )
                .await;
            assert_eq!(status, 200, "{page}");
            let mut got_reply = false;
            for event in page["events"].as_array().unwrap() {
                let seq = event["seq"].as_u64().unwrap();
                assert_eq!(seq, cursor + 1, "no gap, no duplicate: {page}");
                cursor = seq;
                if event["kind"] == "message.created" {
                    let body = event["message"]["body"].as_str().unwrap().to_string();
                    got_reply |= body == reply;
                    polly_sees.push(body);
                }
            }
            if got_reply {
                break;
            }
        }
    }

    // Assert
    let store = history_bodies(&app, &polly_token, &room.id).await;
    assert_eq!(store.len(), 6);
    assert_eq!(polly_sees, store);
    assert_eq!(wes_sees, store);
}

// The live room list.

/// Frames until a `room_list` frame of `change` for `room_id` that `matches` accepts.
async fn expect_room_list(
    ws: &mut WsClient,
    change: &str,
    room_id: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    frames_until(ws, |f| {
        f["type"] == "room_list"
            && f["change"] == change
            && f["room"]["id"] == room_id
            && matches(&f["room"])
    })
    .await
    .pop()
    .unwrap()
}

#[tokio::test]
async fn every_signed_in_socket_sees_rooms_created_renamed_and_deleted() {
    // Arrange: idle is subscribed to nothing; busy to General.
    let app = spawn_app().await;
    let (owner, owner_token) = app.guest("owner").await;
    let (_, idle_token) = app.guest("idle").await;
    let (_, busy_token) = app.guest("busy").await;
    let (_, rooms) = app.get("/api/rooms", Some(&busy_token)).await;
    let general = rooms[0]["id"].as_str().unwrap().to_string();
    let mut idle = app.ws(&idle_token).await;
    expect(&mut idle, "hello").await;
    let mut busy = app.ws(&busy_token).await;
    busy.subscribe(&general, None).await;

    // Act + Assert: created.
    let room = app.create_room(&owner_token, "Brand New").await;
    for ws in [&mut idle, &mut busy] {
        let frame = expect_room_list(ws, "created", &room.id, |_| true).await;
        assert_eq!(frame["room"]["name"], "Brand New");
        assert_eq!(frame["room"]["owner_id"], owner.id.as_str());
        assert!(
            frame.get("by").is_none(),
            "only a deletion names who: {frame}"
        );
    }

    // Renamed.
    let (status, body) = app
        .patch(
            &format!("/api/rooms/{}", room.id),
            Some(&owner_token),
            json!({"name": "Renamed Room"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for ws in [&mut idle, &mut busy] {
        expect_room_list(ws, "updated", &room.id, |r| r["name"] == "Renamed Room").await;
    }

    // Deleted.
    let (status, _) = app
        .delete(&format!("/api/rooms/{}", room.id), Some(&owner_token))
        .await;
    assert_eq!(status, 204);
    for ws in [&mut idle, &mut busy] {
        let frame = expect_room_list(ws, "deleted", &room.id, |_| true).await;
        // #15: who deleted it, so its members can be told.
        assert_eq!(frame["by"]["id"], owner.id.as_str(), "{frame}");
    }
}

#[tokio::test]
async fn a_rooms_member_count_change_reaches_the_room_list() {
    // Arrange
    let app = spawn_app().await;
    let (_, owner_token) = app.guest("owner").await;
    let (_, idle_token) = app.guest("idle").await;
    let (_, joiner_token) = app.guest("joiner").await;
    let room = app.create_room(&owner_token, "Growing").await;
    let mut idle = app.ws(&idle_token).await;
    expect(&mut idle, "hello").await;

    // Act
    let (status, joined) = app
        .post(
            &format!("/api/rooms/{}/join", room.id),
            Some(&joiner_token),
            json!({}),
        )
        .await;
    assert_eq!((status, joined["member_count"].as_u64()), (200, Some(2)));

    // Assert: a coalesced update comes, within the deadline.
    let frame = expect_room_list(&mut idle, "updated", &room.id, |r| r["member_count"] == 2).await;
    assert_eq!(frame["room"]["name"], "Growing");

    // And an online count change too: the joiner's socket subscribes.
    let mut j = app.ws(&joiner_token).await;
    j.subscribe(&room.id, None).await;
    expect_room_list(&mut idle, "updated", &room.id, |r| r["online_count"] == 1).await;
}
