//! What one node's clients do reaches the other node's clients.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{connect, eventually, Cluster, ClusterOptions};

#[tokio::test]
async fn messages_edits_moves_typing_and_presence_cross_nodes() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let (alice, alice_token) = cluster.guest(&a.url(""), "alice").await;
    let (bob, bob_token) = cluster.guest(&b.url(""), "bob").await;
    let room = cluster
        .create_room(&a.url(""), &alice_token, "Crossing")
        .await;

    let mut bob_ws = connect(&b.addr(), &bob_token).await.unwrap();
    assert_eq!(bob_ws.node_id(), "node-b");
    bob_ws.resume(&room, None).await.unwrap();
    let mut alice_ws = connect(&a.addr(), &alice_token).await.unwrap();
    // Bob is online on the other node: alice's snapshot has him, within a heartbeat.
    let (_, subscribed) = alice_ws.resume(&room, None).await.unwrap();
    let mut online: Vec<String> = subscribed["online"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    online.sort();
    assert_eq!(online, ["alice", "bob"], "{subscribed}");
    // And bob hears that alice came online.
    bob_ws
        .expect_with("alice online", |f| {
            // Presence is batched: alice may arrive in one frame with bob's own arrival.
            let joined = f["joined"].as_array();
            (f["type"] == "presence"
                && joined.is_some_and(|j| j.iter().any(|u| u["id"] == alice["id"])))
            .then_some(())
        })
        .await;
    let (_, room_view) = cluster
        .get(&b.url(&format!("/api/rooms/{room}")), Some(&bob_token))
        .await;
    assert_eq!(room_view["online_count"], 2, "{room_view}");

    // Messages, with the cross-node latency measured.
    let mut latencies = Vec::new();
    let mut first_id = String::new();
    for i in 0..30 {
        let started = Instant::now();
        alice_ws
            .try_send(json!({"type": "send", "room_id": room, "client_id": format!("m{i}"), "body": format!("hello {i}")}))
            .await
            .unwrap();
        let event = bob_ws.expect_event("message.created").await;
        latencies.push(started.elapsed());
        assert_eq!(event["message"]["body"], format!("hello {i}"));
        if i == 0 {
            first_id = event["message"]["id"].as_str().unwrap().to_string();
        }
    }
    latencies.sort();
    eprintln!(
        "cross-node delivery (send on A → event on B), 30 messages: median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies.last().unwrap()
    );

    // An edit on B reaches A.
    let (_, last) = cluster
        .get(
            &b.url(&format!("/api/rooms/{room}/messages?limit=1")),
            Some(&bob_token),
        )
        .await;
    let last_id = last["messages"][0]["id"].as_str().unwrap().to_string();
    bob_ws
        .try_send(json!({"type": "send", "room_id": room, "client_id": "b1", "body": "from bob"}))
        .await
        .unwrap();
    let bobs = alice_ws
        .expect_with("bob's message", |f| {
            (f["type"] == "event"
                && f["event"]["kind"] == "message.created"
                && f["event"]["message"]["author"]["id"] == bob["id"])
                .then(|| f["event"]["message"]["id"].as_str().unwrap().to_string())
        })
        .await;
    bob_ws
        .try_send(
            json!({"type": "edit", "room_id": room, "message_id": bobs, "body": "edited by bob"}),
        )
        .await
        .unwrap();
    let edited = alice_ws.expect_event("message.edited").await;
    assert_eq!(edited["message"]["body"], "edited by bob");

    // A move on B reaches A; the order is the same from both nodes.
    bob_ws
        .try_send(json!({"type": "move", "room_id": room, "message_id": last_id, "after": null}))
        .await
        .unwrap();
    let moved = alice_ws.expect_event("message.moved").await;
    assert_eq!(moved["message_id"], last_id);
    let (_, via_a) = cluster
        .get(
            &a.url(&format!("/api/rooms/{room}/messages?limit=3")),
            Some(&alice_token),
        )
        .await;
    let (_, via_b) = cluster
        .get(
            &b.url(&format!("/api/rooms/{room}/messages?limit=200")),
            Some(&bob_token),
        )
        .await;
    assert_eq!(via_b["messages"][0]["id"], last_id);
    assert_eq!(via_b["messages"][1]["id"], first_id.as_str());
    assert_eq!(via_a["messages"][2]["id"], bobs.as_str());

    // Typing on B shows on A.
    bob_ws
        .try_send(json!({"type": "typing", "room_id": room}))
        .await
        .unwrap();
    alice_ws
        .expect_with("bob typing", |f| {
            (f["type"] == "typing" && f["user"]["id"] == bob["id"]).then_some(())
        })
        .await;

    // Alice leaves: bob sees her go offline.
    alice_ws.close().await;
    bob_ws
        .expect_with("alice offline", |f| {
            (f["type"] == "presence" && f["left"][0]["id"] == alice["id"]).then_some(())
        })
        .await;
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn a_dead_nodes_users_go_offline_elsewhere_within_seconds() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let (alice, alice_token) = cluster.guest(&a.url(""), "alice").await;
    let (_, bob_token) = cluster.guest(&b.url(""), "bob").await;
    let room = cluster
        .create_room(&a.url(""), &alice_token, "Mortal")
        .await;
    let mut bob_ws = connect(&b.addr(), &bob_token).await.unwrap();
    bob_ws.resume(&room, None).await.unwrap();
    let mut alice_ws = connect(&a.addr(), &alice_token).await.unwrap();
    alice_ws.resume(&room, None).await.unwrap();
    bob_ws
        .expect_with("alice online", |f| {
            // Presence is batched: alice may arrive in one frame with bob's own arrival.
            let joined = f["joined"].as_array();
            (f["type"] == "presence"
                && joined.is_some_and(|j| j.iter().any(|u| u["id"] == alice["id"])))
            .then_some(())
        })
        .await;

    cluster.nodes[0].kill().await;
    let killed = Instant::now();
    bob_ws
        .expect_with("alice offline", |f| {
            (f["type"] == "presence" && f["left"][0]["id"] == alice["id"]).then_some(())
        })
        .await;
    let took = killed.elapsed();
    eprintln!("a SIGKILLed node's user went offline on the other node after {took:?}");
    // The presence TTL is 1.5 s in these tests; allow scheduling noise.
    assert!(took < Duration::from_secs(6), "{took:?}");
    let b = cluster.node(1);
    let (_, room_view) = cluster
        .get(&b.url(&format!("/api/rooms/{room}")), Some(&bob_token))
        .await;
    assert_eq!(room_view["online_count"], 1, "{room_view}");
}

/// Issue #15 item 2, across nodes: a client that long-polls node B is online to a socket on
/// node A, sees who is online there, and hears A's typing and messages.
#[tokio::test]
async fn a_live_poller_on_one_node_is_present_to_a_socket_on_another() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let (alice, alice_token) = cluster.guest(&a.url(""), "alice").await;
    let (bob, bob_token) = cluster.guest(&b.url(""), "bob").await;
    let room = cluster.create_room(&a.url(""), &alice_token, "Porch").await;
    let mut alice_ws = connect(&a.addr(), &alice_token).await.unwrap();
    alice_ws.resume(&room, None).await.unwrap();

    // Bob's live polls on B see Alice online (within a heartbeat), and she hears he came.
    let events = b.url(&format!("/api/rooms/{room}/events"));
    let (after, live) = eventually("alice online for bob", || async {
        let (_, page) = cluster
            .get(&format!("{events}?after=0&live="), Some(&bob_token))
            .await;
        let online: Vec<&str> = page["online"]
            .as_array()?
            .iter()
            .filter_map(|u| u["id"].as_str())
            .collect();
        (online.contains(&alice["id"].as_str()?) && online.contains(&bob["id"].as_str()?)).then(
            || {
                (
                    page["last_seq"].as_u64().unwrap(),
                    page["live"].as_str().unwrap().to_string(),
                )
            },
        )
    })
    .await;
    alice_ws
        .expect_with("bob online", |f| {
            let joined = f["joined"].as_array()?;
            (f["type"] == "presence" && joined.iter().any(|u| u["id"] == bob["id"])).then_some(())
        })
        .await;

    // Alice types and then sends: Bob's waiting polls on B answer with each.
    let waiting = {
        let (http, events, token) = (reqwest::Client::new(), events.clone(), bob_token.clone());
        tokio::spawn(async move {
            let (mut after, mut live, mut typed) = (after, live, false);
            loop {
                let url = format!("{events}?after={after}&wait=30&live={live}");
                let page: serde_json::Value = http
                    .get(url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                typed |= page["typing"].as_array().is_some_and(|t| !t.is_empty());
                if let Some(event) = page["events"].as_array().and_then(|e| e.first()) {
                    return (typed, event.clone());
                }
                after = page["last_seq"].as_u64().unwrap();
                live = page["live"].as_str().unwrap().to_string();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice_ws
        .try_send(json!({"type": "typing", "room_id": room}))
        .await
        .unwrap();
    eventually("bob's poll hears the typing", || async {
        // The typing notice has crossed when B's next live answer lists it; then send.
        let (_, page) = cluster
            .get(&format!("{events}?after={after}&live="), Some(&bob_token))
            .await;
        page["typing"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
            .then_some(())
    })
    .await;
    alice_ws
        .try_send(json!({"type": "send", "room_id": room, "client_id": "p1", "body": "hi bob"}))
        .await
        .unwrap();
    let (typed, event) = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("bob's poll answers")
        .unwrap();
    assert!(
        typed,
        "the waiting poll answered the typing notice before the message"
    );
    assert_eq!(event["message"]["body"], "hi bob");
}

/// A profile changed through one node reaches the messages a socket on another node sends
/// (the socket keeps the user it signed in as; the bus tells its node of the change).
#[tokio::test]
async fn a_profile_changed_on_one_node_reaches_a_socket_on_another() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let (_, token) = cluster.guest(&a.url(""), "alice").await;
    let room = cluster.create_room(&a.url(""), &token, "Names").await;
    let mut ws = connect(&a.addr(), &token).await.unwrap();
    ws.resume(&room, None).await.unwrap();
    let answer = cluster
        .http
        .patch(b.url("/api/me"))
        .bearer_auth(&token)
        .json(&json!({"display_name": "Alice Liddell"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // The bus tells node A within moments: send until a message carries the new name.
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in 0.. {
        let client_id = format!("n{n}");
        ws.try_send(json!({"type": "send", "room_id": room, "client_id": client_id, "body": "hi"}))
            .await
            .unwrap();
        let ack = ws
            .expect_with("the ack", |f| {
                (f["type"] == "ack" && f["client_id"] == client_id.as_str()).then(|| f.clone())
            })
            .await;
        if ack["message"]["author"]["display_name"] == "Alice Liddell" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node A never heard of the new name: {ack}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Heartbeats are light (a digest of a node's online list): a node that missed what another
/// said (here: it was down when alice came online) notices the digest differ, asks, and gets
/// the full list. Without the ask it would never list alice.
#[tokio::test]
async fn a_node_that_missed_who_came_online_asks_and_learns_it() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    let a_url = cluster.node(0).url("");
    let (_, alice_token) = cluster.guest(&a_url, "alice").await;
    let room = cluster.create_room(&a_url, &alice_token, "Late").await;
    cluster.nodes[1].stop().await;
    let mut alice_ws = connect(&cluster.node(0).addr(), &alice_token)
        .await
        .unwrap();
    alice_ws.resume(&room, None).await.unwrap();
    cluster.nodes[1].start().await;
    let b_room = cluster.node(1).url(&format!("/api/rooms/{room}"));
    let (_, bob_token) = cluster.guest(&cluster.node(1).url(""), "bob").await;
    eventually("node b to list alice online", || async {
        let (_, view) = cluster.get(&b_room, Some(&bob_token)).await;
        (view["online_count"] == 1).then_some(())
    })
    .await;
    // And her going offline reaches it as a change, not only through a full list.
    alice_ws.close().await;
    eventually("node b to see alice leave", || async {
        let (_, view) = cluster.get(&b_room, Some(&bob_token)).await;
        (view["online_count"] == 0).then_some(())
    })
    .await;
}
