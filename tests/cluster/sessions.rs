//! Sessions across nodes (issue 7, item 5): a logout on one node closes the session's sockets on
//! every node, through the bus.

use serde_json::json;

use crate::harness::{connect, Closed, Cluster, ClusterOptions, WAIT};

#[tokio::test]
async fn logout_on_one_node_closes_the_sessions_sockets_on_the_others() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let (_, token) = cluster.guest(&a.url(""), "leaver").await;
    let (_, other_token) = cluster.guest(&a.url(""), "stayer").await;
    let mut leaving = connect(&b.addr(), &token).await.unwrap();
    assert_eq!(leaving.node_id(), "node-b");
    let mut staying = connect(&b.addr(), &other_token).await.unwrap();

    // Log out on node A.
    let (status, _) = cluster
        .post(&a.url("/api/auth/logout"), Some(&token), json!({}))
        .await;
    assert_eq!(status, 204);

    // Node B closes that session's socket with 1008 …
    let closed = loop {
        match leaving.next_within(WAIT).await {
            Ok(_) => continue,
            Err(closed) => break closed,
        }
    };
    assert_eq!(closed, Closed::Code(1008), "{}", b.log());
    // … and only that one.
    staying
        .try_send(json!({"type": "ping", "ref": "still"}))
        .await
        .unwrap();
    staying
        .expect_with("pong", |f| (f["type"] == "pong").then_some(()))
        .await;
    let (status, _) = cluster.get(&b.url("/api/me"), Some(&token)).await;
    assert_eq!(status, 401);
}
