//! Moderation across nodes (issue #9): a ban or kick made through node A cuts the person's
//! socket on node B out of the room at once (a `removed` frame, then nothing more of it), and a
//! report made through node A reaches a moderator's socket on node B.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{connect, Cluster, ClusterOptions, WsClient};

/// How soon node B must cut the socket once node A has answered the ban.
const AT_ONCE: Duration = Duration::from_secs(1);

/// Waits (at most `limit`) for the `removed` frame of the room, skipping others.
async fn removed_within(ws: &mut WsClient, room_id: &str, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next_within(left).await {
            Ok(frame) if frame["type"] == "removed" && frame["room_id"] == room_id => return frame,
            Ok(_) => continue,
            Err(closed) => panic!("no `removed` frame within {limit:?}: {closed:?}"),
        }
    }
}

/// Pings and reads up to the pong: no frame of the room may come before it.
async fn nothing_more_of(ws: &mut WsClient, room_id: &str) {
    ws.try_send(json!({"type": "ping", "ref": "quiet?"}))
        .await
        .unwrap();
    loop {
        let frame = ws.next().await;
        if frame["type"] == "pong" {
            return;
        }
        let of_room = frame["room_id"] == room_id || frame["event"]["room_id"] == room_id;
        assert!(
            !of_room || frame["type"] == "room_list",
            "nothing more of the room, got {frame}"
        );
    }
}

#[tokio::test]
async fn a_ban_on_one_node_cuts_the_socket_on_the_other_at_once() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let (_, owner_token) = cluster.guest(&a.url(""), "owner").await;
    let (member, member_token) = cluster.guest(&a.url(""), "member").await;
    let (kicked, kicked_token) = cluster.guest(&a.url(""), "kicked").await;
    let room_id = cluster.create_room(&a.url(""), &owner_token, "Cut").await;

    let mut banned_ws = connect(&b.addr(), &member_token).await.unwrap();
    assert_eq!(banned_ws.node_id(), "node-b");
    banned_ws.subscribe(&room_id, None).await;
    let mut kicked_ws = connect(&b.addr(), &kicked_token).await.unwrap();
    kicked_ws.subscribe(&room_id, None).await;
    // The owner, on node B too, moderates: reports reach them there.
    let mut moderator_ws = connect(&b.addr(), &owner_token).await.unwrap();
    moderator_ws.subscribe(&room_id, None).await;

    // A report through node A reaches the moderator's socket on node B.
    let (status, message) = cluster
        .post(
            &a.url(&format!("/api/rooms/{room_id}/messages")),
            Some(&kicked_token),
            json!({"client_id": "c1", "body": "reported"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, report) = cluster
        .post(
            &a.url(&format!(
                "/api/rooms/{room_id}/messages/{}/report",
                message["id"].as_str().unwrap()
            )),
            Some(&member_token),
            json!({"reason": "across nodes"}),
        )
        .await;
    assert_eq!(status, 201, "{report}");
    let frame = moderator_ws
        .expect_with("the report", |f| (f["type"] == "report").then(|| f.clone()))
        .await;
    assert_eq!(frame["report"], report);

    // Ban through node A: node B cuts the socket out of the room at once.
    let (status, ban) = cluster
        .post(
            &a.url(&format!("/api/rooms/{room_id}/bans")),
            Some(&owner_token),
            json!({"user_id": member["id"]}),
        )
        .await;
    assert_eq!(status, 201, "{ban}");
    let removed = removed_within(&mut banned_ws, &room_id, AT_ONCE).await;
    assert_eq!(removed["reason"], "banned");
    // Kick through node A, the same.
    let (status, _) = cluster
        .post(
            &a.url(&format!("/api/rooms/{room_id}/kick")),
            Some(&owner_token),
            json!({"user_id": kicked["id"]}),
        )
        .await;
    assert_eq!(status, 204);
    let removed = removed_within(&mut kicked_ws, &room_id, AT_ONCE).await;
    assert_eq!(removed["reason"], "kicked");

    // The room goes on; neither socket hears of it, and the banned one can't come back.
    let (status, _) = cluster
        .post(
            &a.url(&format!("/api/rooms/{room_id}/messages")),
            Some(&owner_token),
            json!({"client_id": "after", "body": "without them"}),
        )
        .await;
    assert_eq!(status, 201);
    moderator_ws.expect_event("message.created").await;
    nothing_more_of(&mut banned_ws, &room_id).await;
    nothing_more_of(&mut kicked_ws, &room_id).await;
    banned_ws
        .try_send(json!({"type": "subscribe", "room_id": room_id, "ref": 2}))
        .await
        .unwrap();
    let refused = banned_ws
        .expect_with("the refusal", |f| (f["type"] == "error").then(|| f.clone()))
        .await;
    assert_eq!(refused["code"], "banned");
    let (status, body) = cluster
        .get(
            &b.url(&format!("/api/rooms/{room_id}/messages")),
            Some(&member_token),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("banned"))
    );
    // The kicked one may.
    let (_, answer) = kicked_ws.subscribe(&room_id, None).await;
    assert_eq!(answer["type"], "subscribed");
}
