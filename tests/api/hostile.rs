//! Hostile input (issue 7, item 4) and web hardening (item 5): each attack is made for real
//! against the running server, and each answer is a clear error or a close, never a crash.
//! Related attacks tested elsewhere: foreign origins and forged tokens (security.rs), the rate
//! and per-user caps (limits.rs), bad frames and the 1009 close (errors.rs), the slow consumer
//! (resume.rs), logout closing sockets (accounts.rs).
//!
//! (Over 500 lines: a catalogue of hostile inputs, one short test each.)

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::{spawn_app, spawn_with, Closed, TestApp, WsClient, WAIT};
use crate::pgdb;

/// Sends raw bytes on a new TCP connection and reads until the server closes it.
async fn raw_http(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes in time")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

// --- Security headers -----------------------------------------------------------------------

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let (_, token) = app.guest("headers").await;
    let requests = [
        ("GET", "/", None),
        ("GET", "/some/client/route", None),
        ("GET", "/docs", None),
        ("GET", "/docs/style.css", None),
        ("GET", "/api/openapi.json", None),
        ("GET", "/metrics", None),
        ("GET", "/healthz", None),
        ("GET", "/api/rooms", Some(token.as_str())),
        ("GET", "/api/rooms", None),                  // 401
        ("GET", "/api/nothing-here", None),           // 404
        ("POST", "/api/rooms", Some(token.as_str())), // 400: no JSON body
        ("GET", "/ws", None),                         // not an upgrade
    ];
    for (method, path, token) in requests {
        let mut req = app.http.request(method.parse().unwrap(), app.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        let what = format!("{method} {path} ({})", resp.status());
        let csp = header(&resp, "content-security-policy").unwrap_or_else(|| panic!("{what}"));
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(part), "{what}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        assert!(!csp.contains("unsafe-eval"), "{what}: {csp}");
        assert_eq!(
            header(&resp, "x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            header(&resp, "referrer-policy"),
            Some("no-referrer"),
            "{what}"
        );
        assert_eq!(header(&resp, "x-frame-options"), Some("DENY"), "{what}");
    }
}

#[tokio::test]
async fn the_docs_page_renders_under_the_csp_without_inline_script_or_style() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains("/api/auth/login"), "the page lists the API");
    for inline in [
        "<script",
        "<style",
        "style=",
        "javascript:",
        "onload=",
        "onerror=",
        "onclick=",
    ] {
        assert!(!page.contains(inline), "inline {inline:?} in /docs");
    }
    assert!(page.contains(r#"<link rel="stylesheet" href="/docs/style.css">"#));
    let css = app
        .http
        .get(app.url("/docs/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(
        header(&css, "content-type"),
        Some("text/css; charset=utf-8")
    );
    assert!(css.text().await.unwrap().contains(".op"));
}

#[tokio::test]
async fn api_answers_are_json_never_html_even_for_html_bodies() {
    let app = spawn_with(|c| c.rate_per_sec = 0).await;
    let (_, token) = app.guest("injector").await;
    let room = app.create_room(&token, "Injections").await;
    let bodies = [
        "<img src=x onerror=window.__xss=1>",
        "<script>window.__xss=1</script>",
        "**bold** [link](javascript:alert(1))",
        "\"><svg onload=alert(1)>",
    ];
    for (i, body) in bodies.iter().enumerate() {
        let resp = app
            .http
            .post(app.url(&format!("/api/rooms/{}/messages", room.id)))
            .bearer_auth(&token)
            .json(&json!({"client_id": format!("x{i}"), "body": body}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        assert_eq!(header(&resp, "content-type"), Some("application/json"));
    }
    // Stored and served back byte for byte: escaping is the renderer's job (the browser test
    // checks that the UI shows them as text).
    let history: Vec<String> = app
        .history(&token, &room.id)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(history, bodies);
}

// --- Size limits ----------------------------------------------------------------------------

/// A `ping` frame of exactly `len` bytes.
fn ping_of_len(len: usize) -> String {
    let empty = json!({"type": "ping", "ref": ""}).to_string();
    let frame = json!({"type": "ping", "ref": "p".repeat(len - empty.len())}).to_string();
    assert_eq!(frame.len(), len);
    frame
}

#[tokio::test]
async fn a_frame_at_the_size_limit_passes_and_one_byte_over_closes_with_1009() {
    let limit = 8 * 1024;
    let app = spawn_with(|c| c.ws_max_message_bytes = limit).await;
    let (_, token) = app.guest("edgy").await;
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;

    ws.send_text(&ping_of_len(limit)).await;
    let empty = json!({"type": "ping", "ref": ""}).to_string().len();
    assert_eq!(
        ws.expect("pong").await["ref"].as_str().unwrap().len(),
        limit - empty
    );

    ws.send_text(&ping_of_len(limit + 1)).await;
    assert_eq!(ws.expect_close().await, Closed::Code(1009));
}

#[tokio::test]
async fn request_heads_over_the_http_limits_are_refused_with_431() {
    let app = spawn_app().await;
    // 100 headers are fine (hyper's limit), 101 are not.
    let with_headers = |n: usize| {
        let mut request = String::from("GET /healthz HTTP/1.1\r\nConnection: close\r\n");
        for i in 0..n - 1 {
            request.push_str(&format!("X-H{i}: v\r\n"));
        }
        request + "\r\n"
    };
    let answer = raw_http(&app.addr, with_headers(100).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = raw_http(&app.addr, with_headers(101).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // One header of a megabyte.
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nX-Huge: {}\r\nConnection: close\r\n\r\n",
        "h".repeat(1024 * 1024)
    );
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    // The server may stop reading (and answer) before all of it is written.
    let _ = stream.write_all(huge.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the server answers in time");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn every_text_limit_accepts_its_maximum_and_refuses_one_more() {
    let app = spawn_with(|c| {
        c.rate_per_sec = 0;
        c.max_rooms_per_user = 100;
    })
    .await;
    let (_, token) = app.guest("limiter").await;
    let room = app.create_room(&token, "Limits").await;
    let path = format!("/api/rooms/{}/messages", room.id);
    let send = |client_id: String, body: String| {
        app.post(
            &path,
            Some(&token),
            json!({"client_id": client_id, "body": body}),
        )
    };
    // Message bodies count characters, not bytes: 4000 four-byte characters pass.
    let (status, body) = send("b1".into(), "😀".repeat(4000)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send("b2".into(), "😀".repeat(4001)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("body_too_long"))
    );
    // client_id: 64 bytes.
    let (status, body) = send("c".repeat(64), "ok".into()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send("c".repeat(65), "ok".into()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_client_id"))
    );
    // Room names: 64 characters.
    let (status, body) = app
        .post("/api/rooms", Some(&token), json!({"name": "r".repeat(64)}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .post("/api/rooms", Some(&token), json!({"name": "r".repeat(65)}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_room_name"))
    );
    // Usernames: 32 characters.
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "u".repeat(32)}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "v".repeat(33)}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_username"))
    );
    // Passwords: 1024 bytes.
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "longpass", "password": format!("tangerine-otter-42 {}", "p".repeat(1005))}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "longerpass", "password": format!("tangerine-otter-42 {}", "p".repeat(1006))}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_rest_body_at_the_limit_is_read_and_one_byte_over_is_413() {
    let app = spawn_app().await;
    let (_, token) = app.guest("bulky").await;
    let room = app.create_room(&token, "Bulk").await;
    let body_of_len = |len: usize| {
        let empty = json!({"client_id": "big", "body": ""}).to_string();
        let text = json!({"client_id": "big", "body": "b".repeat(len - empty.len())}).to_string();
        assert_eq!(text.len(), len);
        text
    };
    let post = |text: String| {
        app.http
            .post(app.url(&format!("/api/rooms/{}/messages", room.id)))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(text)
            .send()
    };
    // At the limit the body is parsed (and the message is too long for a message).
    let resp = post(body_of_len(64 * 1024)).await.unwrap();
    assert_eq!(resp.status(), 400);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "body_too_long");
    // One byte over, it is refused unread.
    let resp = post(body_of_len(64 * 1024 + 1)).await.unwrap();
    assert_eq!(resp.status(), 413);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "payload_too_large");
    // A huge one too (the server stops reading at the limit).
    let resp = post(body_of_len(8 * 1024 * 1024)).await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, 200);
}

// --- Malformed input ------------------------------------------------------------------------

#[tokio::test]
async fn deeply_nested_json_is_invalid_json_and_nothing_breaks() {
    let app = spawn_app().await;
    let (_, token) = app.guest("nester").await;
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));

    // On the socket: 30,000 levels (60 KB, under the frame limit).
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    ws.send_text(&format!(r#"{{"type":"ping","ref":{}}}"#, nested(30_000)))
        .await;
    let error = ws.expect("error").await;
    assert_eq!(error["code"], "invalid_json", "{error}");
    ws.send_text(&nested(30_000)).await;
    assert_eq!(ws.expect("error").await["code"], "invalid_json");
    ws.send(json!({"type": "ping", "ref": "still"})).await;
    assert_eq!(ws.expect("pong").await["ref"], "still");

    // Over REST: bodies are typed, so the nesting is refused where a string was expected
    // (`invalid_request`); a nested top level is refused the same way. Never a 500.
    let resp = app
        .http
        .post(app.url("/api/rooms"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!(r#"{{"name":{}}}"#, nested(30_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    let resp = app
        .http
        .post(app.url("/api/rooms"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(nested(30_000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    let (status, _) = app.get("/api/me", Some(&token)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn invalid_utf8_is_refused_on_rest_and_closes_the_socket_with_1007() {
    let app = spawn_app().await;
    let (_, token) = app.guest("mojibake").await;

    let resp = app
        .http
        .post(app.url("/api/rooms"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(b"{\"name\": \"\xff\xfe\xc0\xaf\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_json");

    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    let bad = Frame::message(
        b"{\"type\":\"ping\",\"ref\":\"\xff\xfe\"}".to_vec(),
        OpCode::Data(Data::Text),
        true,
    );
    ws.send_raw(WsMessage::Frame(bad)).await;
    assert_eq!(ws.expect_close().await, Closed::Code(1007));
    // The server is fine.
    let mut again = app.ws(&token).await;
    assert_eq!(again.next().await["type"], "hello");
}

#[tokio::test]
async fn binary_frames_of_any_size_get_invalid_frame_and_the_socket_stays_open() {
    let app = spawn_app().await;
    let (_, token) = app.guest("binary").await;
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    for len in [0, 1, 1024, 64 * 1024] {
        ws.send_raw(WsMessage::binary(vec![0xAB; len])).await;
        let error = ws.expect("error").await;
        assert_eq!(error["code"], "invalid_frame", "{len} bytes: {error}");
    }
    ws.send_raw(WsMessage::binary(vec![0; 64 * 1024 + 1])).await;
    assert_eq!(ws.expect_close().await, Closed::Code(1009));
}

// --- Floods ---------------------------------------------------------------------------------

/// Creates `n` rooms owned by `token`; their ids.
async fn rooms(app: &TestApp, token: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(app.create_room(token, &format!("Room {i}")).await.id);
    }
    ids
}

#[tokio::test]
async fn ten_thousand_subscribes_from_one_connection_stop_at_the_cap() {
    let app = spawn_with(|c| {
        c.max_rooms_per_user = 200;
        c.room_rate_per_min = 0;
    })
    .await;
    let (_, token) = app.guest("subscriber").await;
    let ids = rooms(&app, &token, 101).await;
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    let (mut sink, mut stream) = ws.into_inner().split();

    // 10,000 subscribes, written while the answers are read (a client that does not read its
    // answers is a slow consumer, a different test).
    const N: usize = 10_000;
    let frames: Vec<String> = (0..N)
        .map(|i| json!({"type": "subscribe", "room_id": ids[i % ids.len()], "ref": i}).to_string())
        .collect();
    let writer = tokio::spawn(async move {
        for frame in frames {
            sink.send(WsMessage::text(frame)).await.unwrap();
        }
        sink
    });
    let (mut subscribed, mut refused) = (std::collections::HashSet::new(), 0);
    let mut answers = 0;
    while answers < N {
        let message = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("answers keep coming")
            .expect("the socket stays open")
            .expect("a frame");
        let WsMessage::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        match frame["type"].as_str() {
            Some("subscribed") => {
                subscribed.insert(frame["room_id"].as_str().unwrap().to_string());
                answers += 1;
            }
            Some("error") => {
                assert_eq!(frame["code"], "too_many_subscriptions", "{frame}");
                refused += 1;
                answers += 1;
            }
            _ => {}
        }
    }
    // Each round of 101 subscribes re-subscribes the 100 and is refused the 101st.
    assert_eq!(subscribed.len(), 100);
    assert_eq!(refused, N / ids.len() + usize::from(N % ids.len() > 100));
    let (_, metrics) = app.get("/metrics", None).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .lines()
            .any(|l| l == "palaver_subscriptions 100"),
        "{metrics}"
    );
    let mut ws = WsClient::from_socket(writer.await.unwrap().reunite(stream).unwrap());
    ws.send(json!({"type": "ping", "ref": "alive"})).await;
    assert_eq!(ws.expect("pong").await["ref"], "alive");
}

#[tokio::test]
async fn a_deleted_room_frees_its_place_under_the_subscription_cap() {
    let app = spawn_with(|c| {
        c.max_rooms_per_user = 200;
        c.room_rate_per_min = 0;
    })
    .await;
    let (_, token) = app.guest("collector").await;
    let ids = rooms(&app, &token, 101).await;
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    for id in &ids[..100] {
        ws.subscribe(id, None).await;
    }
    ws.send(json!({"type": "subscribe", "room_id": ids[100]}))
        .await;
    assert_eq!(ws.expect("error").await["code"], "too_many_subscriptions");

    // One of the hundred is deleted: the connection's subscription to it ends.
    let (status, _) = app
        .delete(&format!("/api/rooms/{}", ids[0]), Some(&token))
        .await;
    assert_eq!(status, 204);
    ws.expect_event("room.deleted").await;

    // So the 101st room fits now.
    let (_, answer) = ws.subscribe(&ids[100], None).await;
    assert_eq!(answer["type"], "subscribed");
    assert_eq!(answer["room_id"], ids[100].as_str());
}

#[tokio::test]
async fn a_socket_that_never_sends_is_closed_by_the_idle_timeout() {
    // No keepalive pings within the test, so the client (which answers pings) sends nothing.
    let app = spawn_with(|c| {
        c.ws_ping_secs = 3600;
        c.ws_idle_timeout_secs = 1;
    })
    .await;
    let (_, token) = app.guest("silent").await;
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    assert_eq!(ws.expect_close().await, Closed::Code(1001));
}

#[tokio::test]
async fn a_slowloris_client_is_disconnected_and_others_are_served() {
    let app = spawn_with(|c| c.header_read_timeout_secs = 1).await;

    // Headers one byte at a time, forever: the server hangs up.
    let mut slow = TcpStream::connect(&app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = async {
        let mut buf = [0u8; 256];
        loop {
            if slow.write_all(b"X").await.is_err() {
                return; // the server closed the connection
            }
            match tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => {} // e.g. a 408 on its way out; the close follows
                Err(_) => {}    // nothing yet: next byte
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), trickle)
        .await
        .expect("the slowloris connection is closed by the server");

    // A connection that never sends a byte is closed as well.
    let mut mute = TcpStream::connect(&app.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(30), mute.read(&mut buf))
        .await
        .expect("the mute connection is closed by the server");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // Everyone else is served.
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, 200);
}

/// Opens a connection and makes one request on it, kept alive: `Some(stream)` when served,
/// `None` when refused with 429 `too_many_connections`.
async fn try_open(addr: &str) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if text.starts_with("HTTP/1.1 200") && text.contains("\"ok\"") {
            return Some(stream);
        }
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap_or(0);
        if n == 0 {
            assert!(text.starts_with("HTTP/1.1 429"), "{text}");
            assert!(text.contains("\"too_many_connections\""), "{text}");
            return None;
        }
        answer.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn connections_over_the_per_address_cap_get_429_until_one_closes() {
    const CAP: usize = 4;
    let app = spawn_with(|c| c.max_connections_per_address = CAP).await;
    let (_, token) = app.guest("flooder").await; // the test client may keep this connection
    let mut ws = app.ws(&token).await; // a WebSocket counts for as long as it is open
    ws.expect("hello").await;

    // Open kept-alive connections until the server refuses one.
    let mut open = Vec::new();
    loop {
        match try_open(&app.addr).await {
            Some(stream) => open.push(stream),
            None => break,
        }
        assert!(open.len() <= CAP, "the cap of {CAP} was never enforced");
    }
    // The WebSocket, these, and at most the client's one pooled connection fill the cap.
    assert!(
        open.len() + 1 == CAP || open.len() + 2 == CAP,
        "{} served before the refusal",
        open.len()
    );
    assert!(WsClient::connect(&app.addr, Some(&token), None)
        .await
        .is_err());

    // When one closes, its place is free again (the server notices the close on its own time).
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    while try_open(&app.addr).await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed connection was never uncounted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // poll again
    }
    // The open ones were never disturbed.
    ws.send(json!({"type": "ping", "ref": 1})).await;
    assert_eq!(ws.expect("pong").await["ref"], 1);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_per_address_cap_is_left_to_the_proxy() {
    let app = spawn_with(|c| {
        c.max_connections_per_address = 2;
        c.trust_proxy = true;
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(
            try_open(&app.addr)
                .await
                .expect("no cap behind a trusted proxy"),
        );
    }
}

// --- Brute force ----------------------------------------------------------------------------

async fn register(app: &TestApp, name: &str, password: &str) {
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": name, "password": password}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn login(app: &TestApp, name: &str, password: &str) -> (u16, Value) {
    app.post(
        "/api/auth/login",
        None,
        json!({"username": name, "password": password}),
    )
    .await
}

#[tokio::test]
async fn successful_logins_never_use_up_the_brute_force_limits() {
    let app = spawn_with(|c| {
        c.login_per_user_per_min = 3;
        c.login_per_address_per_min = 3;
    })
    .await;
    register(&app, "regular", "correct-horse").await;
    for i in 0..10 {
        let (status, body) = login(&app, "regular", "correct-horse").await;
        assert_eq!(status, 200, "login {i}: {body}");
    }
}

#[tokio::test]
async fn failed_logins_lock_the_username_even_against_the_right_password() {
    let app = spawn_with(|c| {
        c.login_per_user_per_min = 3;
        c.login_per_address_per_min = 0;
    })
    .await;
    register(&app, "target", "correct-horse").await;
    register(&app, "bystander", "correct-horse").await;
    // Twenty guesses at once: no more than three are even checked.
    let guesses = futures_util::future::join_all((0..20).map(|i| {
        let app = &app;
        async move { login(app, "target", &format!("guess-{i}")).await }
    }))
    .await;
    let checked = guesses.iter().filter(|(s, _)| *s == 401).count();
    let limited = guesses.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!((checked, limited), (3, 17), "{guesses:?}");
    let (status, body) = login(&app, "TARGET", "correct-horse").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let (status, _) = login(&app, "bystander", "correct-horse").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn password_spraying_from_one_address_is_limited() {
    let app = spawn_with(|c| {
        c.login_per_user_per_min = 0;
        c.login_per_address_per_min = 3;
    })
    .await;
    register(&app, "victim", "correct-horse").await; // 1 of 3: registrations count
    for name in ["ann", "ben"] {
        let (status, _) = login(&app, name, "password1").await;
        assert_eq!(status, 401);
    }
    let (status, body) = login(&app, "cid", "password1").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let (status, _) = login(&app, "victim", "correct-horse").await;
    assert_eq!(status, 429, "the address is limited for every name");
}

#[tokio::test]
async fn a_forged_x_forwarded_for_does_not_escape_the_per_address_limit() {
    let app = spawn_with(|c| {
        c.trust_proxy = true;
        c.login_per_address_per_min = 2;
    })
    .await;
    // The proxy appends the address it saw (10.0.0.7) after whatever the client sent.
    let guest = |name: &'static str, forwarded: String| {
        app.http
            .post(app.url("/api/auth/guest"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"username": name}))
            .send()
    };
    for (i, name) in ["forger1", "forger2", "forger3"].into_iter().enumerate() {
        let resp = guest(name, format!("203.0.113.{i}, 10.0.0.7"))
            .await
            .unwrap();
        let expected = if i < 2 { 201 } else { 429 };
        assert_eq!(resp.status(), expected, "{name}");
    }
    // Another client of the proxy is counted on its own.
    let resp = guest("honest", "10.0.0.8".into()).await.unwrap();
    assert_eq!(resp.status(), 201);
}

// --- Hostile ids and paths ------------------------------------------------------------------

const HOSTILE_IDS: &[&str] = &[
    "' OR '1'='1",
    "1; DROP TABLE messages; --",
    "x' UNION SELECT token_hash, user_id, created_at FROM sessions --",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "\0",
    "😀",
];

fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn ids_with_sql_and_path_traversal_payloads_are_just_not_found_on_sqlite() {
    hostile_ids(&spawn_app().await, false).await;
}

#[tokio::test]
async fn ids_with_sql_and_path_traversal_payloads_are_just_not_found_on_postgres() {
    let db = pgdb::TestDatabase::create().await;
    let url = db.url.clone();
    let mut app = spawn_with(move |c| c.database_url = Some(url)).await;
    hostile_ids(&app, true).await;
    app.stop().await;
}

/// Every hostile id is an unknown room or message. PostgreSQL text cannot hold NUL, so there an
/// id with one is `invalid_request` (400) instead: still a clear answer, never a 500.
async fn hostile_ids(app: &TestApp, postgres: bool) {
    let (_, token) = app.guest("prober").await;
    let room = app.create_room(&token, "Real").await;
    let mut ws = app.ws(&token).await;
    ws.subscribe(&room.id, None).await;
    let ack = ws.send_message(&room.id, "keep", "still here").await;
    assert_eq!(ack["type"], "ack");
    let message_id = ack["message"]["id"].as_str().unwrap().to_string();

    for id in HOSTILE_IDS {
        let nul = postgres && id.contains('\0');
        let (not_room, not_message) = if nul {
            (
                (400, Some("invalid_request")),
                (400, Some("invalid_request")),
            )
        } else {
            (
                (404, Some("room_not_found")),
                (404, Some("message_not_found")),
            )
        };
        let room_path = format!("/api/rooms/{}", encode(id));
        let (status, body) = app.get(&room_path, Some(&token)).await;
        assert_eq!((status, body["error"]["code"].as_str()), not_room, "{id}");
        let (status, body) = app
            .post(
                &format!("{room_path}/messages"),
                Some(&token),
                json!({"client_id": "h", "body": "x"}),
            )
            .await;
        assert_eq!((status, body["error"]["code"].as_str()), not_room, "{id}");
        let (status, body) = app
            .delete(
                &format!("/api/rooms/{}/messages/{}", room.id, encode(id)),
                Some(&token),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            not_message,
            "{id}"
        );
        ws.send(json!({"type": "subscribe", "room_id": id, "ref": "s"}))
            .await;
        assert_eq!(
            ws.expect("error").await["code"].as_str(),
            not_room.1,
            "{id}"
        );
        ws.send(
            json!({"type": "edit", "room_id": room.id, "message_id": id, "body": "x", "ref": "e"}),
        )
        .await;
        assert_eq!(
            ws.expect("error").await["code"].as_str(),
            not_message.1,
            "{id}"
        );
        let (status, _) = app
            .post(
                "/api/auth/login",
                None,
                json!({"username": id, "password": id}),
            )
            .await;
        assert_eq!(status, 401, "{id}");
    }
    // Nothing was touched.
    let history = app.history(&token, &room.id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].id.as_str(), history[0].body.as_str()),
        (message_id.as_str(), "still here")
    );
    let (status, _) = app.get("/api/me", Some(&token)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn ui_paths_with_dot_dot_never_leave_the_web_ui() {
    let app = spawn_app().await;
    for path in [
        "/../Cargo.toml",
        "/assets/../../Cargo.toml",
        "/assets/../../../../../../etc/passwd",
        "/./Cargo.toml",
        "/assets/..\\..\\Cargo.toml",
        "/..%2fCargo.toml",
        "/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/%2e%2e%2f%2e%2e%2fCargo.toml",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let answer = raw_http(&app.addr, request.as_bytes()).await;
        assert!(!answer.contains("[package]"), "{path} served Cargo.toml");
        assert!(!answer.contains("root:"), "{path} served /etc/passwd");
        let status = &answer[..12.min(answer.len())];
        assert!(
            status == "HTTP/1.1 404" || status == "HTTP/1.1 400" || status == "HTTP/1.1 200",
            "{path}: {answer}"
        );
        if path.contains("/../") || path.contains("/./") || path.contains('\\') {
            assert!(!status.ends_with("200"), "{path}: {answer}");
        }
    }
}

// --- Sessions -------------------------------------------------------------------------------

#[tokio::test]
async fn an_expired_session_is_refused_and_its_socket_closes_with_1008() {
    let app = spawn_with(|c| c.session_ttl_secs = 5).await;
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "mayfly"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let mut ws = app.ws(&token).await;
    assert_eq!(ws.next().await["type"], "hello");

    // The sweep closes the socket once the session expires (the client sends nothing and
    // answers pings, so nothing else closes it).
    assert_eq!(ws.expect_close().await, Closed::Code(1008));
    let (status, body) = app.get("/api/me", Some(&token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let mut again = app.ws(&token).await;
    assert_eq!(again.next().await["code"], "unauthenticated");
    assert_eq!(again.expect_close().await, Closed::Code(1008));
}

#[tokio::test]
async fn the_session_cookie_lives_as_long_as_the_session_and_is_secure_when_set() {
    let app = spawn_with(|c| {
        c.session_ttl_secs = 3600;
        c.secure_cookies = true;
    })
    .await;
    let resp = app
        .http
        .post(app.url("/api/auth/guest"))
        .json(&json!({"username": "cookie"}))
        .send()
        .await
        .unwrap();
    let cookie = header(&resp, "set-cookie").unwrap().to_string();
    for part in [
        "palaver_session=",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=3600",
        "Secure",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let app = spawn_app().await;
    let resp = app
        .http
        .post(app.url("/api/auth/guest"))
        .json(&json!({"username": "plain"}))
        .send()
        .await
        .unwrap();
    let cookie = header(&resp, "set-cookie").unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(
        cookie.contains(&format!("Max-Age={}", 30 * 24 * 3600)),
        "{cookie}"
    );
}

#[tokio::test]
async fn signing_in_again_rotates_the_token_and_revokes_the_old_session() {
    let app = spawn_app().await;
    register(&app, "rotator", "correct-horse").await;
    let (status, body) = login(&app, "rotator", "correct-horse").await;
    assert_eq!(status, 200);
    let old = body["token"].as_str().unwrap().to_string();
    let mut old_socket = app.ws(&old).await;
    old_socket.expect("hello").await;

    // A login that carries the old session (as a browser's cookie does).
    let resp = app
        .http
        .post(app.url("/api/auth/login"))
        .header("cookie", format!("palaver_session={old}"))
        .json(&json!({"username": "rotator", "password": "correct-horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let new = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    assert_eq!(old_socket.expect_close().await, Closed::Code(1008));
    let (status, _) = app.get("/api/me", Some(&old)).await;
    assert_eq!(status, 401);
    let (status, _) = app.get("/api/me", Some(&new)).await;
    assert_eq!(status, 200);

    // A failed login with a session leaves it alone.
    let resp = app
        .http
        .post(app.url("/api/auth/login"))
        .bearer_auth(&new)
        .json(&json!({"username": "rotator", "password": "wrong-horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (status, _) = app.get("/api/me", Some(&new)).await;
    assert_eq!(status, 200);

    // A guest sign-in from a signed-in browser rotates too.
    let resp = app
        .http
        .post(app.url("/api/auth/guest"))
        .header("cookie", format!("palaver_session={new}"))
        .json(&json!({"username": "someone-else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let (status, _) = app.get("/api/me", Some(&new)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_bad_websocket_handshake_is_refused_with_a_code_not_upgraded() {
    let app = spawn_app().await;
    let request = |extra: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{extra}\r\n",
            app.addr
        )
    };
    // Not an upgrade at all.
    let answer = raw_http(&app.addr, request("").as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains(r#""code":"invalid_request""#), "{answer}");
    // An upgrade of an unknown WebSocket version: 426, naming the version spoken.
    let answer = raw_http(
        &app.addr,
        request(
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        )
        .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{answer}"
    );
    // No key.
    let answer = raw_http(
        &app.addr,
        request("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
            .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}
