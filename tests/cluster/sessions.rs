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

/// Revoking a session by its id, and a password change, on node A close the sockets of the
/// sessions they end on node B (issue #9: sessions and passwords).
#[tokio::test]
async fn session_revokes_and_password_changes_close_sockets_on_other_nodes() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let password = "correct horse battery staple";
    let credentials = json!({"username": "traveller", "password": password});
    let (status, body) = cluster
        .post(&a.url("/api/auth/register"), None, credentials.clone())
        .await;
    assert_eq!(status, 201, "{body}");
    let here = body["token"].as_str().unwrap().to_string();
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (status, body) = cluster
            .post(&b.url("/api/auth/login"), None, credentials.clone())
            .await;
        assert_eq!(status, 200, "{body}");
        tokens.push(body["token"].as_str().unwrap().to_string());
    }
    let mut first = connect(&b.addr(), &tokens[0]).await.unwrap();
    let mut second = connect(&b.addr(), &tokens[1]).await.unwrap();
    let until_closed = |closed: Result<serde_json::Value, Closed>| closed.err();

    // Revoke the first of B's sessions by id, on A.
    let (_, sessions) = cluster.get(&a.url("/api/me/sessions"), Some(&here)).await;
    let (status, me_first) = cluster
        .get(&b.url("/api/me/sessions"), Some(&tokens[0]))
        .await;
    assert_eq!(status, 200);
    let id = me_first
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sessions.as_array().unwrap().len(), 3);
    let (status, _) = cluster
        .delete(&a.url(&format!("/api/me/sessions/{id}")), Some(&here))
        .await;
    assert_eq!(status, 204);
    let closed = loop {
        if let Some(closed) = until_closed(first.next_within(WAIT).await) {
            break closed;
        }
    };
    assert_eq!(closed, Closed::Code(1008), "{}", b.log());

    // A password change on A ends the other one on B.
    let change =
        json!({"current_password": password, "new_password": "violet lantern orbit meadow"});
    let (status, _) = cluster
        .post(&a.url("/api/me/password"), Some(&here), change)
        .await;
    assert_eq!(status, 204);
    let closed = loop {
        if let Some(closed) = until_closed(second.next_within(WAIT).await) {
            break closed;
        }
    };
    assert_eq!(closed, Closed::Code(1008), "{}", b.log());
    let (status, _) = cluster.get(&b.url("/api/me"), Some(&here)).await;
    assert_eq!(status, 200);
}
