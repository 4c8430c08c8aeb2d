//! Calls (#13) over real sockets: `call.state` to the room's subscribers, signalling only
//! between participants, the gate on `call.join`, the size limit, sockets that close or move,
//! and the ICE servers with coturn-style TURN credentials.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;

use crate::helpers::{spawn_app, spawn_with, TestApp, WsClient};
use crate::private_rooms::private_room;

/// The user ids of a `call.state` frame, in its order.
fn ids(state: &Value) -> Vec<String> {
    state["participants"]
        .as_array()
        .unwrap_or_else(|| panic!("a participant list: {state}"))
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// A signed-in person with a socket subscribed to the room.
async fn subscribed(app: &TestApp, name: &str, room_id: &str) -> (String, String, WsClient) {
    let (user, token) = app.guest(name).await;
    let mut ws = app.ws(&token).await;
    ws.subscribe(room_id, None).await;
    (user.id, token, ws)
}

/// Joins the call: answers the `call.state` that answers the join (it carries the `ref`).
async fn join(ws: &mut WsClient, room_id: &str) -> Value {
    ws.send(json!({"type": "call.join", "room_id": room_id, "ref": "join"}))
        .await;
    let answer = ws
        .expect_with("the answer to call.join", |f| {
            (f["ref"] == "join").then(|| f.clone())
        })
        .await;
    assert_eq!(answer["type"], "call.state", "{answer}");
    answer
}

/// Skips frames until a `call.state` of the room lists exactly `want` (sorted ids).
async fn expect_state(ws: &mut WsClient, room_id: &str, want: &[&String]) -> Value {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    ws.expect_with(&format!("call.state with {want:?}"), |f| {
        (f["type"] == "call.state" && f["room_id"] == room_id && ids(f) == want).then(|| f.clone())
    })
    .await
}

/// Reads frames up to the answer of a ping: none of them may be a `call.signal`. (The server
/// pushes a relayed signal into the addressee's queue before it reads the sender's next frame,
/// so a signal wrongly sent here would be queued before this pong.)
async fn assert_no_signal(ws: &mut WsClient) {
    ws.send(json!({"type": "ping", "ref": "quiet"})).await;
    loop {
        let frame = ws.next().await;
        assert_ne!(
            frame["type"], "call.signal",
            "no signal was for this socket: {frame}"
        );
        if frame["type"] == "pong" {
            return;
        }
    }
}

async fn error_for(ws: &mut WsClient, reference: &str) -> Value {
    let frame = ws
        .expect_with("the error", |f| (f["ref"] == reference).then(|| f.clone()))
        .await;
    assert_eq!(frame["type"], "error", "{frame}");
    frame
}

#[tokio::test]
async fn joining_tells_every_subscriber_and_a_late_subscriber_sees_the_running_call() {
    let app = spawn_app().await;
    let (_, owner) = app.guest("callhost").await;
    let room = app.create_room(&owner, "Calling").await;
    let (alice, _, mut alice_ws) = subscribed(&app, "alice", &room.id).await;
    let (bob, _, mut bob_ws) = subscribed(&app, "bob", &room.id).await;

    let answer = join(&mut alice_ws, &room.id).await;
    assert_eq!(ids(&answer), vec![alice.clone()]);
    assert_eq!(answer["room_id"], room.id.as_str());
    assert_eq!(answer["participants"][0]["username"], "alice");
    let seen = expect_state(&mut bob_ws, &room.id, &[&alice]).await;
    assert!(
        seen.get("ref").is_none(),
        "only the joiner's copy has the ref: {seen}"
    );

    let answer = join(&mut bob_ws, &room.id).await;
    assert_eq!(ids(&answer), sorted(vec![alice.clone(), bob.clone()]));
    expect_state(&mut alice_ws, &room.id, &[&alice, &bob]).await;

    // Someone who subscribes while the call runs is told at once.
    let (_, _, mut carol_ws) = subscribed(&app, "carol", &room.id).await;
    expect_state(&mut carol_ws, &room.id, &[&alice, &bob]).await;

    // Leaving is told to everyone; the last one out ends the call (an empty list).
    alice_ws
        .send(json!({"type": "call.leave", "room_id": room.id, "ref": "bye"}))
        .await;
    let answer = alice_ws
        .expect_with("the answer to call.leave", |f| {
            (f["ref"] == "bye").then(|| f.clone())
        })
        .await;
    assert_eq!(ids(&answer), vec![bob.clone()]);
    expect_state(&mut carol_ws, &room.id, &[&bob]).await;
    bob_ws
        .send(json!({"type": "call.leave", "room_id": room.id}))
        .await;
    expect_state(&mut carol_ws, &room.id, &[]).await;
}

#[tokio::test]
async fn a_signal_reaches_only_its_addressee_and_only_between_participants() {
    let app = spawn_app().await;
    let (_, owner) = app.guest("callhost").await;
    let room = app.create_room(&owner, "Signals").await;
    let (alice, _, mut alice_ws) = subscribed(&app, "alice", &room.id).await;
    let (bob, _, mut bob_ws) = subscribed(&app, "bob", &room.id).await;
    let (carol, _, mut carol_ws) = subscribed(&app, "carol", &room.id).await;
    let (dave, _, mut dave_ws) = subscribed(&app, "dave", &room.id).await;
    join(&mut alice_ws, &room.id).await;
    join(&mut bob_ws, &room.id).await;
    let answer = join(&mut carol_ws, &room.id).await;
    assert_eq!(
        ids(&answer),
        sorted(vec![alice.clone(), bob.clone(), carol.clone()])
    );
    for ws in [&mut alice_ws, &mut bob_ws, &mut dave_ws] {
        expect_state(ws, &room.id, &[&alice, &bob, &carol]).await;
    }

    let offer = json!({"description": {"type": "offer", "sdp": "v=0 fake"}});
    alice_ws
        .send(json!({"type": "call.signal", "room_id": room.id, "to": bob, "data": offer}))
        .await;
    let got = bob_ws.expect("call.signal").await;
    assert_eq!(
        got,
        json!({"type": "call.signal", "room_id": room.id, "from": alice, "data": offer})
    );
    // The sender's next frame is read after the signal was relayed.
    alice_ws.send(json!({"type": "ping", "ref": 1})).await;
    alice_ws.expect("pong").await;
    assert_no_signal(&mut carol_ws).await;
    assert_no_signal(&mut dave_ws).await;

    // To someone not in the call, and from someone not in it: refused.
    alice_ws
        .send(json!({"type": "call.signal", "room_id": room.id, "to": dave, "data": {}, "ref": "to-dave"}))
        .await;
    assert_eq!(
        error_for(&mut alice_ws, "to-dave").await["code"],
        "not_in_call"
    );
    dave_ws
        .send(json!({"type": "call.signal", "room_id": room.id, "to": alice, "data": {}, "ref": "from-dave"}))
        .await;
    assert_eq!(
        error_for(&mut dave_ws, "from-dave").await["code"],
        "not_in_call"
    );
    assert_no_signal(&mut alice_ws).await;
}

#[tokio::test]
async fn someone_who_cannot_read_the_room_gets_room_not_found_on_call_join() {
    let app = spawn_app().await;
    let (_, owner) = app.guest("owner").await;
    let room = private_room(&app, &owner, "Hushed").await;
    let room_id = room["id"].as_str().unwrap();
    let mut owner_ws = app.ws(&owner).await;
    owner_ws.subscribe(room_id, None).await;
    join(&mut owner_ws, room_id).await;

    let (_, stranger) = app.guest("stranger").await;
    let mut ws = app.ws(&stranger).await;
    ws.send(json!({"type": "call.join", "room_id": room_id, "ref": "sneak"}))
        .await;
    assert_eq!(error_for(&mut ws, "sneak").await["code"], "room_not_found");
    // Nor may they learn who is in it from the answer to a leave.
    ws.send(json!({"type": "call.leave", "room_id": room_id, "ref": "peek"}))
        .await;
    assert_eq!(error_for(&mut ws, "peek").await["code"], "room_not_found");
    ws.send(json!({"type": "call.signal", "room_id": room_id, "to": "x", "data": {}, "ref": "s"}))
        .await;
    assert_eq!(error_for(&mut ws, "s").await["code"], "not_in_call");
    // Nor does a call in a room with no subscription start.
    let public = app.create_room(&stranger, "Open").await;
    ws.send(json!({"type": "call.join", "room_id": public.id, "ref": "unsubscribed"}))
        .await;
    assert_eq!(
        error_for(&mut ws, "unsubscribed").await["code"],
        "invalid_request"
    );
}

#[tokio::test]
async fn the_seventh_person_gets_call_full() {
    let app = spawn_app().await;
    let (_, owner) = app.guest("host").await;
    let room = app.create_room(&owner, "Crowded").await;
    let mut sockets = Vec::new();
    for i in 0..6 {
        let (_, _, mut ws) = subscribed(&app, &format!("member{i}"), &room.id).await;
        join(&mut ws, &room.id).await;
        sockets.push(ws);
    }
    let (_, _, mut seventh) = subscribed(&app, "seventh", &room.id).await;
    seventh
        .send(json!({"type": "call.join", "room_id": room.id, "ref": "full"}))
        .await;
    let error = error_for(&mut seventh, "full").await;
    assert_eq!(error["code"], "call_full", "{error}");
    assert!(error["message"].as_str().unwrap().contains('6'), "{error}");
}

#[tokio::test]
async fn a_closed_socket_leaves_and_a_second_socket_takes_the_place_over() {
    let app = spawn_app().await;
    let (_, owner) = app.guest("host").await;
    let room = app.create_room(&owner, "Dropping").await;
    let (alice, _, mut alice_ws) = subscribed(&app, "alice", &room.id).await;
    let (bob, bob_token, mut bob_ws) = subscribed(&app, "bob", &room.id).await;
    join(&mut alice_ws, &room.id).await;
    join(&mut bob_ws, &room.id).await;
    expect_state(&mut alice_ws, &room.id, &[&alice, &bob]).await;

    // Bob opens another tab and joins there: the first tab is told, the call keeps him once.
    let mut bob_tab = app.ws(&bob_token).await;
    bob_tab.subscribe(&room.id, None).await;
    let answer = join(&mut bob_tab, &room.id).await;
    assert_eq!(ids(&answer), sorted(vec![alice.clone(), bob.clone()]));
    let moved = bob_ws
        .expect_with("call_moved", |f| (f["type"] == "error").then(|| f.clone()))
        .await;
    assert_eq!(moved["code"], "call_moved");
    // Signals go to the socket that holds the place now.
    alice_ws
        .send(json!({"type": "call.signal", "room_id": room.id, "to": bob, "data": {"n": 1}}))
        .await;
    assert_eq!(bob_tab.expect("call.signal").await["data"]["n"], 1);
    assert_no_signal(&mut bob_ws).await;
    // The old tab leaving changes nothing; the new one closing leaves.
    bob_ws.close().await;
    bob_tab.close().await;
    expect_state(&mut alice_ws, &room.id, &[&alice]).await;
}

#[tokio::test]
async fn a_kicked_participant_is_taken_out_of_the_call() {
    let app = spawn_app().await;
    let (_, owner) = app.guest("host").await;
    let room = app.create_room(&owner, "Strict").await;
    let (alice, _, mut alice_ws) = subscribed(&app, "alice", &room.id).await;
    let (bob, _, mut bob_ws) = subscribed(&app, "bob", &room.id).await;
    join(&mut alice_ws, &room.id).await;
    join(&mut bob_ws, &room.id).await;
    expect_state(&mut alice_ws, &room.id, &[&alice, &bob]).await;
    let (status, body) = app
        .post(
            &format!("/api/rooms/{}/kick", room.id),
            Some(&owner),
            json!({"user_id": bob}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    expect_state(&mut alice_ws, &room.id, &[&alice]).await;
}

#[tokio::test]
async fn ice_servers_come_with_a_turn_credential_that_verifies() {
    let app = spawn_with(|config| {
        config.ice_servers = vec![
            "stun:stun.example.org:3478".into(),
            "turn:turn.example.org:3478?transport=udp".into(),
        ];
        config.turn_secret = Some("north-wind".into());
        config.turn_ttl_secs = 600;
    })
    .await;
    let (status, body) = app.get("/api/calls/ice-servers", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthenticated");

    let (user, token) = app.guest("caller").await;
    let (status, servers) = app.get("/api/calls/ice-servers", Some(&token)).await;
    assert_eq!(status, 200, "{servers}");
    assert_eq!(servers[0], json!({"urls": ["stun:stun.example.org:3478"]}));
    let turn = &servers[1];
    assert_eq!(
        turn["urls"],
        json!(["turn:turn.example.org:3478?transport=udp"])
    );
    let username = turn["username"].as_str().unwrap();
    let (expiry, user_id) = username.split_once(':').unwrap();
    assert_eq!(user_id, user.id);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expiry: u64 = expiry.parse().unwrap();
    assert!(expiry > now && expiry <= now + 600, "{expiry} vs {now}");
    let mut mac = Hmac::<Sha1>::new_from_slice(b"north-wind").unwrap();
    mac.update(username.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(turn["credential"], expected.as_str());

    // Nothing configured: none.
    let plain = spawn_app().await;
    let (_, token) = plain.guest("caller").await;
    let (status, servers) = plain.get("/api/calls/ice-servers", Some(&token)).await;
    assert_eq!((status, servers), (200, json!([])));
}
