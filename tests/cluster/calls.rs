//! Calls across nodes (#13): participants on two nodes see the same call, signalling crosses
//! nodes, a closed socket leaves on every node, a place taken over from another node lets go of
//! the old socket, and a dead node's participants leave with its heartbeat.

use serde_json::{json, Value};

use crate::harness::{connect, Cluster, ClusterOptions, WsClient};

fn ids(state: &Value) -> Vec<String> {
    let mut ids: Vec<String> = state["participants"]
        .as_array()
        .unwrap_or_else(|| panic!("a participant list: {state}"))
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Skips frames until a `call.state` of the room lists exactly these users.
async fn expect_state(ws: &mut WsClient, room_id: &str, want: &[&str]) -> Value {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    ws.expect_with(&format!("call.state with {want:?}"), |f| {
        (f["type"] == "call.state" && f["room_id"] == room_id && ids(f) == want).then(|| f.clone())
    })
    .await
}

/// Joins the call; answers the participants of the `call.state` that answers the join.
async fn join(ws: &mut WsClient, room_id: &str) -> Vec<String> {
    ws.send(json!({"type": "call.join", "room_id": room_id, "ref": "join"}))
        .await;
    let answer = ws
        .expect_with("the answer to call.join", |f| {
            (f["ref"] == "join").then(|| f.clone())
        })
        .await;
    assert_eq!(answer["type"], "call.state", "{answer}");
    ids(&answer)
}

fn both(a: &str, b: &str) -> Vec<String> {
    let mut ids = vec![a.to_string(), b.to_string()];
    ids.sort();
    ids
}

#[tokio::test]
async fn a_call_with_people_on_two_nodes_is_one_call() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let (_, owner) = cluster.guest(&a.url(""), "owner").await;
    let (alice, alice_token) = cluster.guest(&a.url(""), "alice").await;
    let (bob, bob_token) = cluster.guest(&a.url(""), "bob").await;
    let (alice, bob) = (alice["id"].as_str().unwrap(), bob["id"].as_str().unwrap());
    let room_id = cluster.create_room(&a.url(""), &owner, "Crossing").await;

    let mut alice_ws = connect(&a.addr(), &alice_token).await.unwrap();
    assert_eq!(alice_ws.node_id(), "node-a");
    alice_ws.subscribe(&room_id, None).await;
    let mut bob_ws = connect(&b.addr(), &bob_token).await.unwrap();
    assert_eq!(bob_ws.node_id(), "node-b");
    bob_ws.subscribe(&room_id, None).await;

    assert_eq!(join(&mut alice_ws, &room_id).await, vec![alice.to_string()]);
    expect_state(&mut bob_ws, &room_id, &[alice]).await;
    // Node B knows who is in the call on node A: Bob's answer lists both.
    assert_eq!(join(&mut bob_ws, &room_id).await, both(alice, bob));
    expect_state(&mut alice_ws, &room_id, &[alice, bob]).await;

    // A subscriber arriving on either node sees the whole call.
    let (_, carol_token) = cluster.guest(&b.url(""), "carol").await;
    let mut carol_ws = connect(&b.addr(), &carol_token).await.unwrap();
    carol_ws.subscribe(&room_id, None).await;
    expect_state(&mut carol_ws, &room_id, &[alice, bob]).await;

    // Signalling crosses nodes, both ways.
    let offer = json!({"description": {"type": "offer", "sdp": "v=0 across"}});
    alice_ws
        .send(json!({"type": "call.signal", "room_id": room_id, "to": bob, "data": offer}))
        .await;
    let got = bob_ws.expect("call.signal").await;
    assert_eq!(got["from"], alice);
    assert_eq!(got["data"], offer);
    bob_ws
        .send(json!({"type": "call.signal", "room_id": room_id, "to": alice, "data": {"candidate": "c"}}))
        .await;
    assert_eq!(alice_ws.expect("call.signal").await["from"], bob);

    // Bob's socket closes: he leaves, on both nodes.
    bob_ws.close().await;
    expect_state(&mut alice_ws, &room_id, &[alice]).await;
    expect_state(&mut carol_ws, &room_id, &[alice]).await;

    // Alice joins from a socket on node B: the place moves, the old socket is told.
    let mut alice_b = connect(&b.addr(), &alice_token).await.unwrap();
    alice_b.subscribe(&room_id, None).await;
    assert_eq!(join(&mut alice_b, &room_id).await, vec![alice.to_string()]);
    let moved = alice_ws
        .expect_with("call_moved", |f| (f["type"] == "error").then(|| f.clone()))
        .await;
    assert_eq!(moved["code"], "call_moved", "{moved}");

    // Node B dies: its participants leave with its heartbeat.
    let mut bob_again = connect(&a.addr(), &bob_token).await.unwrap();
    bob_again.subscribe(&room_id, None).await;
    assert_eq!(join(&mut bob_again, &room_id).await, both(alice, bob));
    expect_state(&mut alice_ws, &room_id, &[alice, bob]).await;
    cluster.nodes[1].kill().await;
    expect_state(&mut alice_ws, &room_id, &[bob]).await;
}
