//! Mentions and read markers across nodes (issue #10): a mention written through node A reaches
//! the mentioned person's socket on node B as a `notification`, and reading on one node moves
//! the marker on every socket of that person, whichever node holds it.

use serde_json::json;

use crate::harness::{connect, Cluster, ClusterOptions};

#[tokio::test]
async fn a_mention_and_a_read_marker_reach_the_persons_socket_on_the_other_node() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let (_, owner) = cluster.guest(&a.url(""), "owner").await;
    let (bob, bob_token) = cluster.guest(&a.url(""), "bobby").await;
    let (_, carol_token) = cluster.guest(&a.url(""), "carol").await;
    let room_id = cluster.create_room(&a.url(""), &owner, "Mentions").await;
    for token in [&bob_token, &carol_token] {
        let (status, body) = cluster
            .post(
                &a.url(&format!("/api/rooms/{room_id}/join")),
                Some(token),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    // Bob's and carol's sockets are on node B; neither subscribes to the room.
    let mut bob_socket = connect(&b.addr(), &bob_token).await.unwrap();
    assert_eq!(bob_socket.node_id(), "node-b");
    let mut carol_socket = connect(&b.addr(), &carol_token).await.unwrap();

    let (status, message) = cluster
        .post(
            &a.url(&format!("/api/rooms/{room_id}/messages")),
            Some(&owner),
            json!({"client_id": "m1", "body": "look at this @bobby"}),
        )
        .await;
    assert_eq!(status, 201, "{message}");
    assert_eq!(message["mentions"], json!([bob["id"]]));
    let notified = bob_socket.expect("notification").await;
    assert_eq!(notified["room_id"], room_id.as_str());
    assert_eq!(notified["message"]["id"], message["id"]);

    // Bob reads it through node A: his socket on node B hears of it.
    let seq = message["seq"].as_u64().unwrap();
    let (status, body) = palaver_client::rest::call(
        &reqwest::Client::new(),
        reqwest::Method::PUT,
        &a.url(&format!("/api/rooms/{room_id}/read")),
        Some(&bob_token),
        Some(&json!({"seq": seq})),
    )
    .await
    .unwrap();
    assert_eq!(status, 204, "{body}");
    let marker = bob_socket.expect("read_marker").await;
    assert_eq!(
        (marker["room_id"].as_str(), marker["seq"].as_u64()),
        (Some(room_id.as_str()), Some(seq))
    );

    // Carol was not mentioned: the next frame her socket gets is one sent to her alone after
    // all of the above (a message that mentions her), never bob's notification or marker.
    let (status, second) = cluster
        .post(
            &a.url(&format!("/api/rooms/{room_id}/messages")),
            Some(&owner),
            json!({"client_id": "m2", "body": "and you @carol"}),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let first_for_carol = carol_socket
        .expect_with("carol's first notification or marker", |frame| {
            matches!(frame["type"].as_str(), Some("notification" | "read_marker"))
                .then(|| frame.clone())
        })
        .await;
    assert_eq!(first_for_carol["type"], "notification");
    assert_eq!(first_for_carol["message"]["id"], second["id"]);
}
