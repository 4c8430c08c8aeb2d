//! Lossless resume: a client that comes back gets exactly what it missed, in order, once.

use std::collections::HashSet;

use serde_json::json;

use crate::helpers::{spawn_app, spawn_with, Closed};

#[tokio::test]
async fn a_client_that_reconnects_gets_the_100_messages_it_missed_once_in_order() {
    let app = spawn_with(|c| c.rate_per_sec = 0).await;
    let (_, reader) = app.guest("reader").await;
    let (_, writer) = app.guest("writer").await;
    let room = app.create_room(&writer, "Busy").await;

    let mut ws = app.ws(&reader).await;
    let (_, subscribed) = ws.subscribe(&room.id, None).await;
    let mut last_seq = subscribed["last_seq"].as_u64().unwrap();
    let mut sender = app.ws(&writer).await;
    sender.subscribe(&room.id, None).await;
    sender.send_message(&room.id, "before", "seen live").await;
    let live = ws.expect_event("message.created").await;
    last_seq = last_seq.max(live["seq"].as_u64().unwrap());
    ws.close().await;

    for i in 0..100 {
        let ack = sender
            .send_message(&room.id, &format!("m{i}"), &format!("missed {i}"))
            .await;
        assert_eq!(ack["type"], "ack");
    }

    let mut ws = app.ws(&reader).await;
    let (replayed, subscribed) = ws.subscribe(&room.id, Some(last_seq)).await;
    let seqs: Vec<u64> = replayed
        .iter()
        .map(|f| f["event"]["seq"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (last_seq + 1..=subscribed["last_seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, expected, "replay is every missed seq, in order, once");
    let bodies: Vec<&str> = replayed
        .iter()
        .filter(|f| f["event"]["kind"] == "message.created")
        .map(|f| f["event"]["message"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        (0..100).map(|i| format!("missed {i}")).collect::<Vec<_>>()
    );

    // Live continues right after the seam.
    sender.send_message(&room.id, "after", "live again").await;
    let next = ws.expect("event").await;
    assert_eq!(
        next["event"]["seq"].as_u64().unwrap(),
        subscribed["last_seq"].as_u64().unwrap() + 1
    );
    assert_eq!(next["event"]["message"]["body"], "live again");
}

#[tokio::test]
async fn a_resume_racing_live_sends_has_no_gap_and_no_duplicate() {
    let app = spawn_with(|c| c.rate_per_sec = 0).await;
    let (_, reader) = app.guest("reader").await;
    let (_, writer) = app.guest("writer").await;
    let room = app.create_room(&writer, "Race").await;
    let room_id = room.id.clone();

    // A writer keeps sending while the reader subscribes with `after`.
    let writer_app_addr = app.addr.clone();
    let writer_token = writer.clone();
    let sending = tokio::spawn(async move {
        let mut ws = crate::helpers::WsClient::connect(&writer_app_addr, Some(&writer_token), None)
            .await
            .unwrap();
        for i in 0..150 {
            let ack = ws
                .send_message(&room_id, &format!("w{i}"), &format!("w{i}"))
                .await;
            assert_eq!(ack["type"], "ack");
        }
    });
    let mut ws = app.ws(&reader).await;
    let (replayed, _) = ws.subscribe(&room.id, Some(0)).await;
    let mut seqs: Vec<u64> = replayed
        .iter()
        .map(|f| f["event"]["seq"].as_u64().unwrap())
        .collect();
    sending.await.unwrap();
    let total = app.events(&writer, &room.id, 0).await.last().unwrap().seq;
    while *seqs.last().unwrap_or(&0) < total {
        let event = ws.expect("event").await;
        seqs.push(event["event"]["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
}

#[tokio::test]
async fn history_is_the_same_after_a_restart() {
    let app = spawn_with(|c| c.rate_per_sec = 0).await;
    let (_, token) = app.guest("keeper").await;
    let room = app.create_room(&token, "Durable").await;
    let mut ws = app.ws(&token).await;
    ws.subscribe(&room.id, None).await;
    for i in 0..20 {
        ws.send_message(&room.id, &format!("k{i}"), &format!("kept {i}"))
            .await;
    }
    let before = app.history(&token, &room.id).await;
    let events_before = app.events(&token, &room.id, 0).await;
    let app = app.restart().await;
    let after = app.history(&token, &room.id).await;
    assert_eq!(before, after);
    assert_eq!(events_before, app.events(&token, &room.id, 0).await);
    // And it carries on from there.
    let mut ws = app.ws(&token).await;
    let (_, subscribed) = ws.subscribe(&room.id, None).await;
    assert_eq!(
        subscribed["last_seq"].as_u64().unwrap(),
        events_before.last().unwrap().seq
    );
    let ack = ws.send_message(&room.id, "k-next", "after restart").await;
    assert_eq!(
        ack["message"]["seq"].as_u64().unwrap(),
        events_before.last().unwrap().seq + 1
    );
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let mut app = spawn_app().await;
    let (_, token) = app.guest("stayer").await;
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    app.stop().await;
    assert_eq!(ws.expect_close().await, Closed::Code(1001));
}

#[tokio::test]
async fn far_behind_clients_are_told_to_resync() {
    let app = spawn_with(|c| c.rate_per_sec = 0).await;
    let (_, token) = app.guest("sleeper").await;
    let room = app.create_room(&token, "Chatty").await;
    let mut ws = app.ws(&token).await;
    ws.subscribe(&room.id, None).await;
    for i in 0..1002 {
        ws.send(
            json!({"type": "send", "room_id": room.id, "client_id": format!("s{i}"), "body": "x"}),
        )
        .await;
    }
    let mut acked = HashSet::new();
    while acked.len() < 1002 {
        let frame = ws.next().await;
        if frame["type"] == "ack" {
            acked.insert(frame["client_id"].as_str().unwrap().to_string());
        }
    }
    let mut again = app.ws(&token).await;
    let (replayed, answer) = again.subscribe(&room.id, Some(0)).await;
    assert!(replayed.is_empty());
    assert_eq!(answer["type"], "resync");
    assert_eq!(answer["last_seq"].as_u64(), Some(1003));
}

#[tokio::test]
async fn a_slow_consumer_is_closed_with_4008_while_the_others_keep_receiving() {
    let app = spawn_with(|c| {
        c.ws_outbound_queue = 16;
        c.rate_per_sec = 0;
    })
    .await;
    let (_, writer) = app.guest("writer").await;
    let (_, fast) = app.guest("fast").await;
    let (_, slow) = app.guest("slow").await;
    let room = app.create_room(&writer, "Firehose").await;

    let mut slow_ws = app.ws(&slow).await;
    slow_ws.subscribe(&room.id, None).await;
    let mut fast_ws = app.ws(&fast).await;
    fast_ws.subscribe(&room.id, None).await;
    let mut sender = app.ws(&writer).await;
    sender.subscribe(&room.id, None).await;

    // The slow client stops reading; big messages fill its socket buffers and then its queue.
    let slow_socket = slow_ws.into_inner();
    let body = "z".repeat(3900);
    let mut sent = 0;
    let mut closed = false;
    while !closed && sent < 4000 {
        for _ in 0..50 {
            let ack = sender
                .send_message(&room.id, &format!("f{sent}"), &body)
                .await;
            assert_eq!(ack["type"], "ack");
            // The fast client keeps up, every message in order.
            let event = fast_ws.expect_event("message.created").await;
            assert_eq!(event["message"]["client_id"], format!("f{sent}"));
            sent += 1;
        }
        let (_, metrics) = app.get("/metrics", None).await;
        closed = metrics
            .as_str()
            .unwrap()
            .contains("palaver_slow_consumer_closes_total 1");
    }
    assert!(
        closed,
        "the slow consumer was closed within {sent} messages"
    );
    // Reading again, the slow client finds the close frame after what it had been sent.
    let mut slow_ws = crate::helpers::WsClient::from_socket(slow_socket);
    assert_eq!(slow_ws.expect_close().await, Closed::Code(4008));
    // Everyone else carries on.
    let ack = sender
        .send_message(&room.id, "after", "still flowing")
        .await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(
        fast_ws.expect_event("message.created").await["message"]["body"],
        "still flowing"
    );
}

/// One connection writes 300 sends back to back without waiting for acks, then edits the last
/// one: the server keeps many in flight, yet stores them in the order written, acks them in that
/// order, delivers their events in that order, and carries out the edit only after them.
#[tokio::test]
async fn pipelined_sends_from_one_connection_keep_their_order() {
    let app = spawn_with(|c| c.rate_per_sec = 0).await;
    let (_, writer) = app.guest("writer").await;
    let (_, reader) = app.guest("reader").await;
    let room = app.create_room(&writer, "Pipelined").await;
    let mut watcher = app.ws(&reader).await;
    watcher.subscribe(&room.id, None).await;
    let mut ws = app.ws(&writer).await;
    ws.subscribe(&room.id, None).await;

    const N: usize = 300;
    for i in 0..N {
        ws.send(
            json!({"type": "send", "room_id": room.id, "client_id": format!("p{i}"),
                       "body": format!("pipelined {i}")}),
        )
        .await;
    }
    // A retry of an early send in the middle of the stream, and a refused one.
    ws.send(json!({"type": "send", "room_id": room.id, "client_id": "p3", "body": "pipelined 3"}))
        .await;
    ws.send(json!({"type": "send", "room_id": room.id, "client_id": "empty", "body": ""}))
        .await;
    let mut acks = Vec::new();
    let mut refused = None;
    while acks.len() < N + 1 || refused.is_none() {
        let frame = ws.next().await;
        match frame["type"].as_str() {
            Some("ack") => acks.push(frame),
            Some("error") => refused = Some(frame),
            _ => {}
        }
    }
    let client_ids: Vec<String> = acks
        .iter()
        .map(|a| a["client_id"].as_str().unwrap().to_string())
        .collect();
    let mut expected: Vec<String> = (0..N).map(|i| format!("p{i}")).collect();
    expected.push("p3".into());
    assert_eq!(
        client_ids, expected,
        "acks come in the order the sends were written"
    );
    let seqs: Vec<u64> = acks[..N]
        .iter()
        .map(|a| a["message"]["seq"].as_u64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] + 1 == w[1]),
        "stored in order, gap-free"
    );
    assert_eq!(
        acks[N]["message"]["seq"], acks[3]["message"]["seq"],
        "the retry is the original"
    );
    assert_eq!(refused.unwrap()["code"], "body_empty");

    // An edit written after them all takes effect after them all.
    let last_id = acks[N - 1]["message"]["id"].as_str().unwrap().to_string();
    ws.send(json!({"type": "edit", "room_id": room.id, "message_id": last_id, "body": "edited"}))
        .await;
    let mut bodies = Vec::new();
    loop {
        let event = watcher.expect("event").await["event"].clone();
        match event["kind"].as_str() {
            Some("message.created") => {
                bodies.push(event["message"]["body"].as_str().unwrap().to_string())
            }
            Some("message.edited") => {
                assert_eq!(event["seq"].as_u64().unwrap(), seqs[N - 1] + 1);
                break;
            }
            _ => {}
        }
    }
    let expected: Vec<String> = (0..N).map(|i| format!("pipelined {i}")).collect();
    assert_eq!(bodies, expected, "delivered live in order, once");
    let history = app.history(&reader, &room.id).await;
    assert_eq!(history.last().unwrap().body, "edited");
}
