use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint_of_the_contract() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["info"]["title"], "Palaver");
    let expected = [
        ("post", "/api/auth/register"),
        ("post", "/api/auth/login"),
        ("post", "/api/auth/guest"),
        ("post", "/api/auth/logout"),
        ("get", "/api/me"),
        ("get", "/api/rooms"),
        ("post", "/api/rooms"),
        ("get", "/api/rooms/{room_id}"),
        ("patch", "/api/rooms/{room_id}"),
        ("delete", "/api/rooms/{room_id}"),
        ("post", "/api/rooms/{room_id}/join"),
        ("post", "/api/rooms/{room_id}/leave"),
        ("get", "/api/rooms/{room_id}/members"),
        ("get", "/api/rooms/{room_id}/messages"),
        ("post", "/api/rooms/{room_id}/messages"),
        ("patch", "/api/rooms/{room_id}/messages/{message_id}"),
        ("delete", "/api/rooms/{room_id}/messages/{message_id}"),
        ("post", "/api/rooms/{room_id}/messages/{message_id}/move"),
        ("post", "/api/rooms/{room_id}/clear"),
        ("get", "/api/rooms/{room_id}/events"),
        ("post", "/api/rooms/{room_id}/typing"),
        ("patch", "/api/me"),
        ("delete", "/api/me"),
        ("post", "/api/me/password"),
        ("get", "/api/me/sessions"),
        ("delete", "/api/me/sessions/{session_id}"),
        ("get", "/api/me/export"),
        ("post", "/api/me/claim"),
        ("get", "/api/users"),
        ("get", "/api/users/{user_id}"),
        ("get", "/api/config"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        // Issue #10: read markers, unread counts, notification levels, Web Push.
        ("put", "/api/rooms/{room_id}/read"),
        ("get", "/api/me/unread"),
        ("put", "/api/rooms/{room_id}/notifications"),
        ("get", "/api/push/key"),
        ("post", "/api/push/subscriptions"),
        ("delete", "/api/push/subscriptions"),
        // Issue #13: calls.
        ("get", "/api/calls/ice-servers"),
    ];
    for (method, path) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is missing"
        );
    }
    for schema in [
        "User",
        "Room",
        "Message",
        "Event",
        "ClientFrame",
        "ServerFrame",
        "ErrorBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
}

#[tokio::test]
async fn the_docs_page_renders_offline_without_scripts() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("/api/rooms/{room_id}/messages"));
    assert!(!html.contains("<script"), "the page needs no script");
    assert!(
        !html.contains("https://"),
        "nothing is fetched from elsewhere"
    );
}

#[tokio::test]
async fn metrics_count_connections_messages_and_store_latency() {
    let app = crate::helpers::spawn_app().await;
    let (_, token) = app.guest("counter").await;
    let room = app.create_room(&token, "Counted").await;
    let mut ws = app.ws(&token).await;
    ws.subscribe(&room.id, None).await;
    ws.send_message(&room.id, "m1", "one").await;
    app.post(
        &format!("/api/rooms/{}/messages", room.id),
        Some(&token),
        json!({"client_id": "m2", "body": "two"}),
    )
    .await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "palaver_connections 1",
        "palaver_subscriptions 1",
        "palaver_connections_opened_total 1",
        "palaver_messages_sent_total 2",
        "palaver_store_seconds_count{op=\"send\"} 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "metrics lack {line:?}:\n{text}"
        );
    }
    let fanned: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("palaver_events_fanned_out_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(fanned >= 2, "{fanned}");
}

/// `PALAVER_METRICS_LISTEN`: metrics on their own address, without a token; the main listener
/// answers 404 for them, token or not.
#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let app = crate::helpers::spawn_with(|c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        c.metrics_token = Some("m-secret-1".into());
    })
    .await;
    let (_, token) = app.guest("scraped").await;
    let mut ws = app.ws(&token).await;
    let (rooms_status, _) = app.get("/api/rooms", Some(&token)).await;
    assert_eq!(rooms_status, 200, "the main listener serves the API");
    let metrics = app.metrics_addr.expect("a metrics listener");
    assert_ne!(metrics.to_string(), app.addr);
    let resp = app
        .http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.lines().any(|l| l == "palaver_connections 1"),
        "the same node's metrics:\n{text}"
    );
    // Only metrics there: the API is not served on the metrics address.
    let resp = app
        .http
        .get(format!("http://{metrics}/api/rooms"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // The main listener: 404, with or without the token.
    let (status, body) = app.get("/metrics", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = app.get("/metrics", Some("m-secret-1")).await;
    assert_eq!(status, 404);
    ws.send(json!({"type": "ping", "ref": "p"})).await;
    ws.expect("pong").await;
}
