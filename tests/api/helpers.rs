//! The test harness: the real server on port 0 with a temporary data dir, a REST client, and a
//! typed WebSocket client whose every wait has a deadline.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use palaver::protocol::{Event, Message, Room, User};
use palaver::{Application, Config};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub addr: String,
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    pub http: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut app = start(dir.path().to_path_buf(), tweak).await;
    app._dir = Some(dir);
    app
}

/// The server with another access policy than Palaver's.
pub async fn spawn_with_policy(
    policy: std::sync::Arc<dyn palaver::chat::access::Policy>,
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::for_data_dir(dir.path());
    let app = Application::build_with_policy(config, policy)
        .await
        .expect("the app builds");
    let mut app = serve(app, dir.path().to_path_buf());
    app._dir = Some(dir);
    app
}

async fn start(data_dir: PathBuf, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::for_data_dir(&data_dir);
    tweak(&mut config);
    let app = Application::build(config).await.expect("the app builds");
    serve(app, data_dir)
}

fn serve(app: Application, data_dir: PathBuf) -> TestApp {
    let addr = format!("127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        data_dir,
        _dir: None,
        shutdown,
        server: Some(server),
        http: reqwest::Client::new(),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Shuts the server down cleanly and starts a new one on the same data dir.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let dir = self._dir.take();
        let mut app = start(self.data_dir.clone(), |_| {}).await;
        app._dir = dir;
        app
    }

    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            tokio::time::timeout(WAIT, server)
                .await
                .expect("the server stops in time")
                .expect("the server task ends")
                .expect("the server stops cleanly");
        }
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        read(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        read(req.send().await.expect("request sent")).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.delete(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        read(req.send().await.expect("request sent")).await
    }

    #[allow(dead_code)] // for the chat-semantics tests
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.patch(self.url(path)).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        read(req.send().await.expect("request sent")).await
    }

    /// A guest session: (user, token).
    pub async fn guest(&self, name: &str) -> (User, String) {
        let (status, body) = self
            .post("/api/auth/guest", None, json!({"username": name}))
            .await;
        assert_eq!(status, 201, "{body}");
        (
            serde_json::from_value(body["user"].clone()).unwrap(),
            body["token"].as_str().unwrap().to_string(),
        )
    }

    pub async fn create_room(&self, token: &str, name: &str) -> Room {
        let (status, body) = self
            .post("/api/rooms", Some(token), json!({"name": name}))
            .await;
        assert_eq!(status, 201, "{body}");
        serde_json::from_value(body).unwrap()
    }

    pub async fn history(&self, token: &str, room_id: &str) -> Vec<Message> {
        let (status, body) = self
            .get(
                &format!("/api/rooms/{room_id}/messages?limit=200"),
                Some(token),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body["messages"].clone()).unwrap()
    }

    pub async fn events(&self, token: &str, room_id: &str, after: u64) -> Vec<Event> {
        let (status, body) = self
            .get(
                &format!("/api/rooms/{room_id}/events?after={after}&limit=1000"),
                Some(token),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body["events"].clone()).unwrap()
    }

    pub async fn ws(&self, token: &str) -> WsClient {
        WsClient::connect(&self.addr, Some(token), None)
            .await
            .expect("socket opens")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client that speaks frames as JSON values. Every wait times out after [`WAIT`].
pub struct WsClient {
    socket: Socket,
}

/// How a socket ended, as seen by the client.
#[derive(Debug, PartialEq)]
pub enum Closed {
    Code(u16),
    Dropped,
}

impl WsClient {
    pub async fn connect(
        addr: &str,
        bearer: Option<&str>,
        origin: Option<&str>,
    ) -> anyhow::Result<WsClient> {
        let mut request = format!("ws://{addr}/ws").into_client_request()?;
        if let Some(token) = bearer {
            request
                .headers_mut()
                .insert("Authorization", format!("Bearer {token}").parse()?);
        }
        if let Some(origin) = origin {
            request.headers_mut().insert("Origin", origin.parse()?);
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(WsClient { socket })
    }

    pub async fn connect_url(url: &str) -> anyhow::Result<WsClient> {
        let (socket, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(WsClient { socket })
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(WsMessage::text(text))
            .await
            .expect("frame sent");
    }

    pub async fn send_raw(&mut self, message: WsMessage) {
        self.socket.send(message).await.expect("frame sent");
    }

    /// The next JSON frame; panics on timeout or close.
    pub async fn next(&mut self) -> Value {
        match self.next_or_close().await {
            Ok(value) => value,
            Err(closed) => panic!("socket closed ({closed:?}) while a frame was expected"),
        }
    }

    /// The next JSON frame, or how the socket closed.
    pub async fn next_or_close(&mut self) -> Result<Value, Closed> {
        // One deadline for the whole wait: the server's keepalive pings must not extend it.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("a frame arrives in time");
            match message {
                Some(Ok(WsMessage::Text(text))) => {
                    return Ok(serde_json::from_str(&text).expect("server frames are JSON"))
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    return Err(frame.map_or(Closed::Dropped, |f| Closed::Code(u16::from(f.code))))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Closed::Dropped),
            }
        }
    }

    /// Skips frames until one of `type` arrives.
    pub async fn expect(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Skips frames (except errors) until the socket closes; the close code.
    pub async fn expect_close(&mut self) -> Closed {
        loop {
            match self.next_or_close().await {
                Ok(_) => continue,
                Err(closed) => return closed,
            }
        }
    }

    /// Waits for `hello`, then subscribes; answers the `subscribed` frame. Events replayed
    /// before it are returned too.
    pub async fn subscribe(&mut self, room_id: &str, after: Option<u64>) -> (Vec<Value>, Value) {
        let mut frame = json!({"type": "subscribe", "room_id": room_id});
        if let Some(after) = after {
            frame["after"] = json!(after);
        }
        self.send(frame).await;
        let mut replayed = Vec::new();
        loop {
            let frame = self.next().await;
            match frame["type"].as_str() {
                Some("event") => replayed.push(frame),
                Some("subscribed") | Some("resync") => return (replayed, frame),
                Some("error") => panic!("subscribe failed: {frame}"),
                _ => {}
            }
        }
    }

    pub async fn send_message(&mut self, room_id: &str, client_id: &str, body: &str) -> Value {
        self.send(
            json!({"type": "send", "room_id": room_id, "client_id": client_id, "body": body}),
        )
        .await;
        loop {
            let frame = self.next().await;
            if (frame["type"] == "ack" || frame["type"] == "error")
                && frame["client_id"] == client_id
            {
                return frame;
            }
        }
    }

    /// Skips frames until an `event` of `kind` arrives.
    pub async fn expect_event(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.expect("event").await;
            if frame["event"]["kind"] == kind {
                return frame["event"].clone();
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    /// Stops reading without closing: for slow-consumer tests.
    pub fn into_inner(self) -> Socket {
        self.socket
    }
}

#[allow(dead_code)]
pub fn close_code(code: CloseCode) -> u16 {
    u16::from(code)
}

impl WsClient {
    pub fn from_socket(socket: Socket) -> WsClient {
        WsClient { socket }
    }
}
