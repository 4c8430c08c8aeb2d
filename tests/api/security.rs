use crate::helpers::{spawn_app, spawn_with, Closed, WsClient};

/// A raw WebSocket upgrade request: the status line and the rest of the answer.
async fn raw_upgrade(addr: &str, token: &str, origin: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: Bearer {token}\r\nOrigin: {origin}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the head is complete and, for an answer with a body, the body too.
    let read = async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer).to_string();
            if n == 0
                || (text.contains("\r\n\r\n")
                    && (text.starts_with("HTTP/1.1 101") || text.ends_with('}')))
            {
                return text;
            }
        }
    };
    let text = tokio::time::timeout(crate::helpers::WAIT, read)
        .await
        .expect("an answer in time");
    let (status, rest) = text.split_once("\r\n").unwrap_or((&text, ""));
    (status.to_string(), rest.to_string())
}

/// A browser page of another site can't open a socket with the visitor's credentials: the
/// upgrade itself is refused with 403 `cross_origin`, so no socket ever opens.
#[tokio::test]
async fn a_socket_from_a_foreign_origin_is_refused_before_the_upgrade() {
    let app = spawn_app().await;
    let (_, token) = app.guest("victim").await;
    let (status, rest) = raw_upgrade(&app.addr, &token, "https://evil.example").await;
    assert!(status.starts_with("HTTP/1.1 403"), "{status}\n{rest}");
    assert!(rest.contains("\"cross_origin\""), "{rest}");
    let own = format!("http://{}", app.addr);
    let (status, rest) = raw_upgrade(&app.addr, &token, &own).await;
    assert!(status.starts_with("HTTP/1.1 101"), "{status}\n{rest}");
    let err = WsClient::connect(&app.addr, Some(&token), Some("https://evil.example")).await;
    assert!(err.is_err(), "the client sees the refusal");

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
