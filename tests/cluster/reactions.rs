//! Reactions, thread replies and pins across nodes (issue #10): made through node A, they reach
//! a subscriber on node B as events with the room's next `seq`.

use serde_json::json;

use crate::harness::{connect, Cluster, ClusterOptions};

#[tokio::test]
async fn a_reaction_thread_reply_and_pin_on_one_node_reach_a_subscriber_on_the_other() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let (_, owner_token) = cluster.guest(&a.url(""), "owner").await;
    let (_, reader_token) = cluster.guest(&a.url(""), "reader").await;
    let room_id = cluster
        .create_room(&a.url(""), &owner_token, "Reacting")
        .await;
    let (status, message) = cluster
        .post(
            &a.url(&format!("/api/rooms/{room_id}/messages")),
            Some(&owner_token),
            json!({"client_id": "c1", "body": "react to me"}),
        )
        .await;
    assert_eq!(status, 201, "{message}");
    let message_id = message["id"].as_str().unwrap();

    let mut reader = connect(&b.addr(), &reader_token).await.unwrap();
    assert_eq!(reader.node_id(), "node-b");
    let (_, subscribed) = reader.subscribe(&room_id, None).await;
    let last = subscribed["last_seq"].as_u64().unwrap();

    let rest_a = cluster.rest(&a.url(""));
    let (status, body) = rest_a
        .react(&owner_token, &room_id, message_id, "👍", true)
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
    let added = reader.expect_event("reaction.added").await;
    assert_eq!(added["seq"].as_u64(), Some(last + 1));
    assert_eq!(added["emoji"], "👍");

    let (status, _) = rest_a
        .send_in(
            &owner_token,
            &room_id,
            "t1",
            "in a thread",
            None,
            Some(message_id),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    let created = reader.expect_event("message.created").await;
    assert_eq!(created["seq"].as_u64(), Some(last + 2));
    assert_eq!(created["thread"]["reply_count"], 1);

    let (status, _) = rest_a
        .pin(&owner_token, &room_id, message_id, true)
        .await
        .unwrap();
    assert_eq!(status, 204);
    let pinned = reader.expect_event("message.pinned").await;
    assert_eq!(pinned["seq"].as_u64(), Some(last + 3));
}
