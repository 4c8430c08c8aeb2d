use crate::helpers::{spawn_app, spawn_with, Closed, WsClient};

#[tokio::test]
async fn a_socket_from_a_foreign_origin_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.guest("victim").await;
    let mut ws = WsClient::connect(&app.addr, Some(&token), Some("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(ws.next_or_close().await, Err(Closed::Code(1008)));

    // The server's own origin is fine, and so is a configured one.
    let own = format!("http://{}", app.addr);
    let mut ws = WsClient::connect(&app.addr, Some(&token), Some(&own))
        .await
        .unwrap();
    assert_eq!(ws.next().await["type"], "hello");

    let app = spawn_with(|c| c.allowed_origins = vec!["https://chat.example.com".into()]).await;
    let (_, token) = app.guest("friend").await;
    let mut ws = WsClient::connect(&app.addr, Some(&token), Some("https://chat.example.com"))
        .await
        .unwrap();
    assert_eq!(ws.next().await["type"], "hello");
}

#[tokio::test]
async fn a_socket_without_a_valid_token_is_closed_with_1008() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(&app.addr, None, None).await.unwrap();
    assert_eq!(ws.next().await["code"], "unauthenticated");
    assert_eq!(ws.expect_close().await, Closed::Code(1008));
    let mut ws = WsClient::connect(&app.addr, Some("forged"), None)
        .await
        .unwrap();
    assert_eq!(ws.next().await["code"], "unauthenticated");
}

#[tokio::test]
async fn the_token_may_come_in_the_query_string() {
    let app = spawn_app().await;
    let (user, token) = app.guest("querier").await;
    let mut ws = WsClient::connect_url(&format!("ws://{}/ws?token={token}", app.addr))
        .await
        .unwrap();
    let hello = ws.next().await;
    assert_eq!(hello["user"]["id"], user.id.as_str());
}

#[tokio::test]
async fn the_root_page_and_health_answer() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Palaver"));
    let (status, body) = app.get("/healthz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get("/readyz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    let (status, body) = app.get("/api/nothing-here", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}
