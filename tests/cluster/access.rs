//! The access model across nodes: a private room made on one node is hidden on the other from
//! strangers and open there to a member added on the first; a DM opened on either node is the
//! same room.

use serde_json::json;

use crate::harness::{connect, Cluster, ClusterOptions};

#[tokio::test]
async fn private_rooms_and_dms_hold_across_nodes() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let (_, alice) = cluster.guest(&a.url(""), "alice").await;
    let (bob_user, bob) = cluster.guest(&b.url(""), "bob").await;
    let (_, carol) = cluster.guest(&b.url(""), "carol").await;
    let (status, room) = cluster
        .post(
            &a.url("/api/rooms"),
            Some(&alice),
            json!({"name": "Across", "kind": "private"}),
        )
        .await;
    assert_eq!(status, 201, "{room}");
    let id = room["id"].as_str().unwrap().to_string();

    // On node B the room doesn't exist for bob, until alice adds him on node A.
    let (status, body) = cluster
        .get(&b.url(&format!("/api/rooms/{id}")), Some(&bob))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("room_not_found"))
    );
    let (status, _) = cluster
        .post(
            &a.url(&format!("/api/rooms/{id}/members")),
            Some(&alice),
            json!({"username": "bob"}),
        )
        .await;
    assert_eq!(status, 201);
    let mut bob_ws = connect(&b.addr(), &bob).await.unwrap();
    bob_ws.resume(&id, None).await.unwrap();
    let mut alice_ws = connect(&a.addr(), &alice).await.unwrap();
    alice_ws.resume(&id, None).await.unwrap();
    let ack = alice_ws.send_message(&id, "x1", "over here").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let event = bob_ws.expect_event("message.created").await;
    assert_eq!(event["message"]["body"], "over here");

    // Carol, on node B, still can't reach it by REST or socket.
    let mut carol_ws = connect(&b.addr(), &carol).await.unwrap();
    let answer = carol_ws.try_subscribe(&id, None).await.unwrap().answer;
    assert_eq!(answer["code"], "room_not_found", "{answer}");
    let (status, _) = cluster
        .get(&b.url(&format!("/api/rooms/{id}/messages")), Some(&carol))
        .await;
    assert_eq!(status, 404);

    // A DM opened on B and on A is one room.
    let (status, dm) = cluster
        .post(
            &b.url("/api/dms"),
            Some(&bob),
            json!({"usernames": ["alice"]}),
        )
        .await;
    assert_eq!(status, 201, "{dm}");
    let (status, same) = cluster
        .post(
            &a.url("/api/dms"),
            Some(&alice),
            json!({"usernames": ["bob"]}),
        )
        .await;
    assert_eq!((status, same["id"].clone()), (200, dm["id"].clone()));
    let (status, members) = cluster
        .get(
            &a.url(&format!(
                "/api/rooms/{}/members",
                dm["id"].as_str().unwrap()
            )),
            Some(&alice),
        )
        .await;
    assert_eq!(status, 200);
    assert!(members
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["user"]["id"] == bob_user["id"]));
}
