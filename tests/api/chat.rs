use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn two_clients_chat_in_real_time() {
    let app = spawn_app().await;
    let (alice, alice_token) = app.guest("alice").await;
    let (bob, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Chat").await;

    let mut a = app.ws(&alice_token).await;
    let hello = a.expect("hello").await;
    assert_eq!(hello["user"]["id"], alice.id.as_str());
    assert_eq!(hello["protocol"], 1);
    assert!(hello["node_id"].is_string());
    let mut b = app.ws(&bob_token).await;
    b.expect("hello").await;
    a.subscribe(&room.id, None).await;
    let (_, subscribed) = b.subscribe(&room.id, None).await;
    assert_eq!(subscribed["room_id"], room.id.as_str());
    let online: Vec<&str> = subscribed["online"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(
        online.contains(&"alice") && online.contains(&"bob"),
        "{subscribed}"
    );

    let ack = a.send_message(&room.id, "a-1", "hello bob").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["message"]["body"], "hello bob");
    let seen = b.expect_event("message.created").await;
    assert_eq!(seen["message"]["body"], "hello bob");
    assert_eq!(seen["message"]["author"]["id"], alice.id.as_str());
    assert_eq!(seen["seq"], ack["message"]["seq"]);

    // And back, over REST this time.
    let (status, message) = app
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            Some(&bob_token),
            json!({"client_id": "b-1", "body": "hi alice"}),
        )
        .await;
    assert_eq!(status, 201, "{message}");
    assert_eq!(message["author"]["id"], bob.id.as_str());
    let seen = a.expect_event("message.created").await;
    assert_eq!(seen["message"]["body"], "hi alice");

    let history = app.history(&alice_token, &room.id).await;
    let bodies: Vec<&str> = history.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["hello bob", "hi alice"]);
    assert!(history[0].position < history[1].position);
}

#[tokio::test]
async fn a_retried_send_returns_the_original_message() {
    let app = spawn_app().await;
    let (_, token) = app.guest("retrier").await;
    let room = app.create_room(&token, "Retries").await;
    let mut ws = app.ws(&token).await;
    ws.subscribe(&room.id, None).await;

    let first = ws.send_message(&room.id, "same-id", "once").await;
    let again = ws.send_message(&room.id, "same-id", "once").await;
    assert_eq!(first["message"], again["message"]);

    let path = format!("/api/rooms/{}/messages", room.id);
    let (status, rest) = app
        .post(
            &path,
            Some(&token),
            json!({"client_id": "same-id", "body": "once"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(rest, first["message"]);
    let (status, created) = app
        .post(
            &path,
            Some(&token),
            json!({"client_id": "rest-id", "body": "twice"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, retried) = app
        .post(
            &path,
            Some(&token),
            json!({"client_id": "rest-id", "body": "twice"}),
        )
        .await;
    assert_eq!((status, &retried), (200, &created));

    assert_eq!(app.history(&token, &room.id).await.len(), 2);
}

#[tokio::test]
async fn sending_to_a_room_makes_the_sender_a_member_once() {
    let app = spawn_app().await;
    let (_, owner) = app.guest("owner").await;
    let (newcomer, token) = app.guest("newcomer").await;
    let room = app.create_room(&owner, "Open").await;
    let path = format!("/api/rooms/{}/messages", room.id);
    app.post(
        &path,
        Some(&token),
        json!({"client_id": "1", "body": "first"}),
    )
    .await;
    app.post(
        &path,
        Some(&token),
        json!({"client_id": "2", "body": "second"}),
    )
    .await;
    let events = app.events(&owner, &room.id, 0).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "member.joined",
            "member.joined",
            "message.created",
            "message.created"
        ]
    );
    let (_, members) = app
        .get(&format!("/api/rooms/{}/members", room.id), Some(&owner))
        .await;
    assert!(members
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["user"]["id"] == newcomer.id.as_str()));
}

#[tokio::test]
async fn history_pages_walk_back_in_position_order() {
    let app = crate::helpers::spawn_with(|c| c.rate_per_sec = 0).await;
    let (_, token) = app.guest("pager").await;
    let room = app.create_room(&token, "Pages").await;
    let path = format!("/api/rooms/{}/messages", room.id);
    for i in 0..25 {
        app.post(
            &path,
            Some(&token),
            json!({"client_id": format!("c{i}"), "body": format!("m{i}")}),
        )
        .await;
    }
    let (_, page) = app.get(&format!("{path}?limit=10"), Some(&token)).await;
    assert_eq!(page["has_more"], true);
    let bodies = |page: &serde_json::Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        bodies(&page),
        (15..25).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    let before = page["messages"][0]["position"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, older) = app
        .get(&format!("{path}?limit=10&before={before}"), Some(&token))
        .await;
    assert_eq!(
        bodies(&older),
        (5..15).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    let before = older["messages"][0]["position"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, oldest) = app
        .get(&format!("{path}?limit=10&before={before}"), Some(&token))
        .await;
    assert_eq!(
        bodies(&oldest),
        (0..5).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    assert_eq!(oldest["has_more"], false);
    for bad in ["limit=0", "limit=201", "limit=x"] {
        let (status, body) = app.get(&format!("{path}?{bad}"), Some(&token)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap()),
            (400, "invalid_request"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn ping_gets_pong_with_its_ref() {
    let app = spawn_app().await;
    let (_, token) = app.guest("pinger").await;
    let mut ws = app.ws(&token).await;
    ws.send(json!({"type": "ping", "ref": "r-7"})).await;
    let pong = ws.expect("pong").await;
    assert_eq!(pong["ref"], "r-7");
}

#[tokio::test]
async fn unsubscribing_stops_the_events() {
    let app = spawn_app().await;
    let (_, token) = app.guest("quitter").await;
    let room = app.create_room(&token, "Quiet").await;
    let other = app.create_room(&token, "Loud").await;
    let mut ws = app.ws(&token).await;
    ws.subscribe(&room.id, None).await;
    ws.subscribe(&other.id, None).await;
    ws.send(json!({"type": "unsubscribe", "room_id": room.id}))
        .await;
    ws.expect("unsubscribed").await;
    let path = format!("/api/rooms/{}/messages", room.id);
    app.post(
        &path,
        Some(&token),
        json!({"client_id": "q1", "body": "unheard"}),
    )
    .await;
    let path = format!("/api/rooms/{}/messages", other.id);
    app.post(
        &path,
        Some(&token),
        json!({"client_id": "l1", "body": "heard"}),
    )
    .await;
    // The next event is the other room's: nothing came from the room we left.
    let event = ws.expect_event("message.created").await;
    assert_eq!(event["message"]["body"], "heard");
}

#[tokio::test]
async fn a_burst_of_sends_is_acked_and_stored_in_the_order_sent() {
    let app = crate::helpers::spawn_with(|c| c.rate_per_sec = 0).await;
    let (_, token) = app.guest("burster").await;
    let room = app.create_room(&token, "Burst").await;
    let mut ws = app.ws(&token).await;
    ws.subscribe(&room.id, None).await;
    // 200 sends without waiting for acks: stored and acked in the order written.
    for i in 0..200 {
        ws.send(json!({"type": "send", "room_id": room.id, "client_id": format!("b{i}"), "body": format!("n{i}")}))
            .await;
    }
    let mut acks = Vec::new();
    while acks.len() < 200 {
        let frame = ws.next().await;
        if frame["type"] == "ack" {
            acks.push(frame["client_id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(acks, (0..200).map(|i| format!("b{i}")).collect::<Vec<_>>());
    let history = app.history(&token, &room.id).await;
    let bodies: Vec<&str> = history.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        (0..200).map(|i| format!("n{i}")).collect::<Vec<_>>()
    );
    let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn a_long_message_arrives_whole_though_it_is_sent_in_fragments() {
    // 4,000 two-byte characters: the event frame is over 8 KiB, so the server sends it as a
    // text frame and continuation frames, with splits that fall inside characters.
    let app = spawn_app().await;
    let (_, alice_token) = app.guest("longwriter").await;
    let (_, bob_token) = app.guest("longreader").await;
    let room = app.create_room(&alice_token, "Long").await;
    let mut a = app.ws(&alice_token).await;
    let mut b = app.ws(&bob_token).await;
    a.subscribe(&room.id, None).await;
    b.subscribe(&room.id, None).await;
    let body = "é".repeat(4000);
    let ack = a.send_message(&room.id, "long-1", &body).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["message"]["body"], body.as_str());
    let seen = b.expect_event("message.created").await;
    assert_eq!(seen["message"]["body"], body.as_str());
    // And the socket goes on as before.
    a.send_message(&room.id, "long-2", "short").await;
    let seen = b.expect_event("message.created").await;
    assert_eq!(seen["message"]["body"], "short");
}
