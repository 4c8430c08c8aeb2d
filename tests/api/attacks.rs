//! Issue 23, "Palaver under attack": what an attacker tries first, each refused. The slow-body
//! and descriptor tests drive raw TCP sockets against the real server (in process, and the real
//! binary with a small descriptor limit); every wait has a deadline and waits for an event.
//! (The input rules are in `attacks_input.rs`.)

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app, spawn_with, TestApp, WAIT};

/// Reads until the server closes the connection (or `within` passes: then panics).
async fn read_until_closed(stream: &mut TcpStream, within: Duration, what: &str) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "{what}: the connection is still open");
    String::from_utf8_lossy(&answer).into_owned()
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(&app.addr).await.expect("connects")
}

const LOGIN_HEAD: &str = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\n\
Content-Type: application/json\r\n";

// Item 1: slow request bodies.

#[tokio::test]
async fn a_declared_body_that_never_comes_is_answered_408_and_closed() {
    let app = spawn_with(|c| c.body_read_timeout_secs = 1).await;
    let mut stream = connect(&app).await;
    let head = format!("{LOGIN_HEAD}Content-Length: 100\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream, WAIT, "body never sent").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test]
async fn a_body_trickled_a_byte_at_a_time_is_cut_off() {
    let app = spawn_with(|c| c.body_read_timeout_secs = 1).await;
    let stream = connect(&app).await;
    let (mut reader, mut writer) = stream.into_split();
    let head = format!("{LOGIN_HEAD}Content-Length: 100\r\n\r\n");
    writer.write_all(head.as_bytes()).await.unwrap();
    // One byte every 200 ms: 20 s for the whole body, were it allowed.
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, reader.read_to_end(&mut answer)).await;
    trickle.abort();
    assert!(read.is_ok(), "the trickling connection is still open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn a_chunked_body_that_never_sends_a_chunk_times_out() {
    let app = spawn_with(|c| c.body_read_timeout_secs = 1).await;
    let mut stream = connect(&app).await;
    let head = format!("{LOGIN_HEAD}Transfer-Encoding: chunked\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream, WAIT, "chunked body never sent").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn an_over_limit_content_length_is_refused_at_once_unread() {
    // The body timeout is long: the answer must not wait for it.
    let app = spawn_with(|c| c.body_read_timeout_secs = 300).await;
    let mut stream = connect(&app).await;
    let head = format!("{LOGIN_HEAD}Content-Length: 70000\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream, WAIT, "over-limit length").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    // A body that is sent whole and in time is still served.
    let (status, _) = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "nobody", "password": "whatever1"}),
        )
        .await;
    assert_eq!(status, 401);
}

/// The real binary with 128 descriptors: 200 connections that send nothing exhaust them; a
/// new client is still answered (the oldest idle connections are closed to make room), and the
/// first idle connection is among those closed.
#[tokio::test]
async fn running_out_of_descriptors_sheds_the_oldest_idle_connections() {
    use std::os::unix::process::CommandExt as _;

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_palaver"));
    command
        .env("PALAVER_LISTEN", &addr)
        .env("PALAVER_DATA_DIR", dir.path())
        // Idle connections would hold their descriptors for a minute without the shedding.
        .env("PALAVER_HEADER_READ_TIMEOUT_SECS", "60")
        .env("PALAVER_MAX_CONNECTIONS_PER_ADDRESS", "0")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, 128, 128));
    }
    let mut child = tokio::process::Command::from(command)
        .kill_on_drop(true)
        .spawn()
        .expect("palaver starts");
    let http = reqwest::Client::new();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(resp) = http.get(format!("http://{addr}/readyz")).send().await {
                if resp.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(ready.is_ok(), "palaver is ready");

    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(&addr).await.expect("the kernel accepts"));
    }
    let served = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(mut stream) = TcpStream::connect(&addr).await {
                let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                if stream.write_all(request).await.is_ok() {
                    let mut answer = Vec::new();
                    let read = tokio::time::timeout(
                        Duration::from_secs(1),
                        stream.read_to_end(&mut answer),
                    )
                    .await;
                    if read.is_ok() && answer.starts_with(b"HTTP/1.1 200") {
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        served.is_ok(),
        "a new client got no answer while descriptors ran out"
    );
    let oldest = &mut idle[0];
    let closed = read_until_closed(oldest, WAIT, "the oldest idle connection").await;
    assert!(closed.is_empty(), "{closed}");
    child.kill().await.ok();
}

// Item 4: cross-site requests with the session cookie.

async fn cookie_post(app: &TestApp, path: &str, token: &str, origin: Option<&str>) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url(path))
        .header("cookie", format!("palaver_session={token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=b");
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn cookie_state_changes_from_another_site_are_refused() {
    let app = spawn_app().await;
    let (_, token) = app.guest("victim").await;
    let room = app.create_room(&token, "Precious").await;
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            Some(&token),
            json!({"client_id": "c1", "body": "keep me"}),
        )
        .await;
    assert_eq!(status, 201);
    let evil = Some("http://evil.example");
    for path in ["clear", "join", "leave", "typing"] {
        let (status, body) = cookie_post(
            &app,
            &format!("/api/rooms/{}/{path}", room.id),
            &token,
            evil,
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("cross_origin")),
            "{path}"
        );
        // No Origin and no fetch metadata: no proof either.
        let (status, _) = cookie_post(
            &app,
            &format!("/api/rooms/{}/{path}", room.id),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 403, "{path} without Origin");
    }
    let (status, body) = cookie_post(&app, "/api/auth/logout", &token, evil).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("cross_origin"))
    );
    let resp = app
        .http
        .delete(app.url(&format!("/api/rooms/{}", room.id)))
        .header("cookie", format!("palaver_session={token}"))
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        app.history(&token, &room.id).await.len(),
        1,
        "nothing was cleared"
    );
    let (status, _) = app.get("/api/me", Some(&token)).await;
    assert_eq!(status, 200, "still signed in");

    // Reads need no proof; the server's own origin and bearer tokens pass.
    let resp = app
        .http
        .get(app.url("/api/me"))
        .header("cookie", format!("palaver_session={token}"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let own = format!("http://{}", app.addr);
    let (status, _) = cookie_post(
        &app,
        &format!("/api/rooms/{}/typing", room.id),
        &token,
        Some(&own),
    )
    .await;
    assert_eq!(status, 204);
    let resp = app
        .http
        .post(app.url(&format!("/api/rooms/{}/clear", room.id)))
        .bearer_auth(&token)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "bearer tokens are exempt");
    let (status, _) = cookie_post(&app, "/api/auth/logout", &token, Some(&own)).await;
    assert_eq!(status, 204);
}

// Item 10: the small ones.

#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_case() {
    let app = spawn_app().await;
    let (user, token) = app.guest("lowercase").await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let resp = app
            .http
            .get(app.url("/api/me"))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{scheme}");
        let me: Value = resp.json().await.unwrap();
        assert_eq!(me["id"], user.id.as_str());
    }
}

#[tokio::test]
async fn the_csp_lets_scripts_connect_to_this_origin_only() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/healthz")).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    let connect = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("connect-src"))
        .unwrap();
    assert_eq!(connect, "connect-src 'self'");
}

#[tokio::test]
async fn metrics_can_be_kept_behind_a_token() {
    let app = spawn_with(|c| c.metrics_token = Some("m-secret-1".into())).await;
    let (status, body) = app.get("/metrics", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, _) = app.get("/metrics", Some("m-secret-2")).await;
    assert_eq!(status, 401);
    let resp = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("m-secret-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("palaver_"));
    let open = spawn_app().await;
    let resp = open.http.get(open.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "open when no token is configured");
}

/// Everything the server logs (debug level and up) while a socket signs in with `?token=`: the
/// token never appears, its redaction does.
#[tokio::test(flavor = "current_thread")]
async fn the_query_token_is_redacted_from_the_logs() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // A current-thread runtime: the server's tasks run on this thread, under this subscriber.
    let _default = tracing::subscriber::set_default(subscriber);
    let app = spawn_app().await;
    let (_, token) = app.guest("logged").await;
    let mut ws =
        crate::helpers::WsClient::connect_url(&format!("ws://{}/ws?token={token}", app.addr))
            .await
            .unwrap();
    ws.expect("hello").await;
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        log.contains("/ws?token=REDACTED"),
        "the request was logged: {log}"
    );
    assert!(!log.contains(&token), "the token is in the log");
}
