//! One WebSocket connection to Palaver (or to anything that speaks its protocol, such as the
//! bench's bare broadcast server).
//!
//! Three ways to use it:
//! - fallible and bounded, for tools and for tests that expect a socket to end:
//!   [`WsClient::try_send`], [`WsClient::next_within`], [`WsClient::try_subscribe`], …;
//! - typed: [`WsClient::send_frame`] takes a [`ClientFrame`], [`WsClient::next_frame_within`]
//!   answers a [`ServerFrame`];
//! - test conveniences that panic when the client's wait ([`WsClient::with_wait`]) passes or the
//!   socket ends: [`WsClient::next`], [`WsClient::expect`], [`WsClient::subscribe`], …
//!
//! A hot loop that reads millions of frames takes the raw socket ([`WsClient::into_inner`]) and
//! reads the text of each frame its own way, without a JSON parse.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::protocol::{ClientFrame, ServerFrame, User};

/// The socket underneath: a plain TCP stream (Palaver speaks `ws://` behind its proxy).
pub type Socket = WebSocketStream<TcpStream>;

/// How long a wait of the test conveniences may take unless [`WsClient::with_wait`] says.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// How a socket ended (or a wait for it did), as seen by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// The server closed with this code.
    Code(u16),
    /// The connection ended without a close code.
    Dropped,
    /// Nothing arrived in time (the socket may still be open).
    TimedOut,
}

/// What to connect to, and how.
#[derive(Debug, Clone)]
pub struct Connect {
    addr: String,
    path: String,
    bearer: Option<String>,
    query_token: Option<String>,
    origin: Option<String>,
    source: Option<IpAddr>,
    read_buffer: Option<usize>,
    hello: bool,
    wait: Duration,
}

impl Connect {
    /// `addr` is `host:port`; the path is `/ws`.
    pub fn new(addr: &str) -> Connect {
        Connect {
            addr: addr.to_string(),
            path: "/ws".to_string(),
            bearer: None,
            query_token: None,
            origin: None,
            source: None,
            read_buffer: None,
            hello: false,
            wait: DEFAULT_WAIT,
        }
    }

    /// The request's path and query (`/ws` unless told).
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.to_string();
        self
    }

    /// The session token in `Authorization: Bearer`.
    pub fn bearer(mut self, token: Option<&str>) -> Self {
        self.bearer = token.map(str::to_string);
        self
    }

    /// The session token in the query (`/ws?token=…`), as a browser without headers does.
    pub fn query_token(mut self, token: &str) -> Self {
        self.query_token = Some(token.to_string());
        self
    }

    pub fn origin(mut self, origin: Option<&str>) -> Self {
        self.origin = origin.map(str::to_string);
        self
    }

    /// Connects from this local address (spreading many sockets over 127.0.0.x).
    pub fn source(mut self, ip: IpAddr) -> Self {
        self.source = Some(ip);
        self
    }

    /// The socket's read buffer in bytes (small ones let one process hold many sockets).
    pub fn read_buffer(mut self, bytes: usize) -> Self {
        self.read_buffer = Some(bytes);
        self
    }

    /// Reads the server's `hello` before answering (see [`WsClient::hello`]).
    pub fn hello(mut self) -> Self {
        self.hello = true;
        self
    }

    /// The wait of the connect, of the `hello` and of the client's test conveniences.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }
}

/// A WebSocket client whose every wait has a deadline.
pub struct WsClient {
    socket: Socket,
    wait: Duration,
    hello: Option<(User, String)>,
}

impl WsClient {
    /// Connects to `addr` (`host:port`) with an optional bearer token and `Origin`; does not wait
    /// for `hello`.
    pub async fn connect(
        addr: &str,
        bearer: Option<&str>,
        origin: Option<&str>,
    ) -> anyhow::Result<WsClient> {
        WsClient::open(&Connect::new(addr).bearer(bearer).origin(origin)).await
    }

    /// Connects to a `ws://host:port/path?query` URL; does not wait for `hello`.
    pub async fn connect_url(url: &str) -> anyhow::Result<WsClient> {
        let (addr, path) = split_url(url)?;
        WsClient::open(&Connect::new(addr).path(path)).await
    }

    pub async fn open(options: &Connect) -> anyhow::Result<WsClient> {
        let connecting = async {
            let stream = match options.source {
                None => TcpStream::connect(&options.addr).await?,
                Some(source) => {
                    let addr: SocketAddr = tokio::net::lookup_host(&options.addr)
                        .await?
                        .next()
                        .ok_or_else(|| anyhow!("{} has no address", options.addr))?;
                    let socket = match source {
                        IpAddr::V4(_) => TcpSocket::new_v4()?,
                        IpAddr::V6(_) => TcpSocket::new_v6()?,
                    };
                    socket.bind(SocketAddr::new(source, 0))?;
                    socket.connect(addr).await?
                }
            };
            stream.set_nodelay(true)?;
            let mut url = format!("ws://{}{}", options.addr, options.path);
            if let Some(token) = &options.query_token {
                url.push_str(&format!("?token={token}"));
            }
            let mut request = url.into_client_request()?;
            if let Some(token) = &options.bearer {
                request
                    .headers_mut()
                    .insert("Authorization", format!("Bearer {token}").parse()?);
            }
            if let Some(origin) = &options.origin {
                request.headers_mut().insert("Origin", origin.parse()?);
            }
            let config = options
                .read_buffer
                .map(|bytes| WebSocketConfig::default().read_buffer_size(bytes));
            let (socket, _) = tokio_tungstenite::client_async_with_config(request, stream, config)
                .await
                .context("WebSocket handshake")?;
            anyhow::Ok(socket)
        };
        let socket = tokio::time::timeout(options.wait, connecting)
            .await
            .map_err(|_| anyhow!("connect timed out"))??;
        let mut client = WsClient {
            socket,
            wait: options.wait,
            hello: None,
        };
        if options.hello {
            match client.next_frame_within(options.wait).await {
                Ok(ServerFrame::Hello { user, node_id, .. }) => {
                    client.hello = Some((user, node_id))
                }
                Ok(other) => bail!("expected hello, got {other:?}"),
                Err(closed) => bail!("closed before hello: {closed:?}"),
            }
        }
        Ok(client)
    }

    /// A client over a socket taken with [`WsClient::into_inner`].
    pub fn from_socket(socket: Socket) -> WsClient {
        WsClient {
            socket,
            wait: DEFAULT_WAIT,
            hello: None,
        }
    }

    /// The wait of the test conveniences.
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The user and node id of the `hello` read when connecting ([`Connect::hello`]).
    pub fn hello(&self) -> Option<(&User, &str)> {
        self.hello
            .as_ref()
            .map(|(user, node)| (user, node.as_str()))
    }

    /// The node that said `hello` (empty if it wasn't read).
    pub fn node_id(&self) -> &str {
        self.hello().map_or("", |(_, node)| node)
    }

    pub async fn try_send_text(&mut self, text: &str) -> Result<(), Closed> {
        self.try_send_raw(Message::text(text)).await
    }

    pub async fn try_send(&mut self, frame: Value) -> Result<(), Closed> {
        self.try_send_text(&frame.to_string()).await
    }

    pub async fn send_frame(&mut self, frame: &ClientFrame) -> Result<(), Closed> {
        let text = serde_json::to_string(frame).expect("client frames serialise");
        self.try_send_text(&text).await
    }

    pub async fn try_send_raw(&mut self, message: Message) -> Result<(), Closed> {
        self.socket.send(message).await.map_err(|_| Closed::Dropped)
    }

    /// The text of the next text frame within `limit` (pings and binary frames are skipped), or
    /// how the socket ended.
    pub async fn next_text_within(&mut self, limit: Duration) -> Result<Utf8Bytes, Closed> {
        // One deadline for the whole wait: the server's keepalive pings must not extend it.
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Ok(message) => message,
                Err(_) => return Err(Closed::TimedOut),
            };
            match message {
                Some(Ok(Message::Text(text))) => return Ok(text),
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map_or(Closed::Dropped, |f| Closed::Code(u16::from(f.code))))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Closed::Dropped),
            }
        }
    }

    /// The next frame as JSON within `limit`, or how the socket ended.
    ///
    /// # Panics
    /// On a text frame that is not JSON: the server sends nothing else.
    pub async fn next_within(&mut self, limit: Duration) -> Result<Value, Closed> {
        let text = self.next_text_within(limit).await?;
        Ok(serde_json::from_str(&text).expect("server frames are JSON"))
    }

    /// The next frame, typed, within `limit`.
    ///
    /// # Panics
    /// On a text frame that is not a server frame.
    pub async fn next_frame_within(&mut self, limit: Duration) -> Result<ServerFrame, Closed> {
        let text = self.next_text_within(limit).await?;
        Ok(serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("not a server frame ({err}): {text}")))
    }

    /// Subscribes (replaying the events after `after`) and reads until the answer: `subscribed`,
    /// `resync` or `error`. Each frame is waited for up to the client's wait.
    pub async fn try_subscribe(
        &mut self,
        room_id: &str,
        after: Option<u64>,
    ) -> Result<Subscription, Closed> {
        let mut frame = json!({"type": "subscribe", "room_id": room_id});
        if let Some(after) = after {
            frame["after"] = json!(after);
        }
        self.try_send(frame).await?;
        let mut replayed = Vec::new();
        loop {
            let frame = self.next_within(self.wait).await?;
            match frame["type"].as_str() {
                Some("event") => replayed.push(frame),
                Some("subscribed") | Some("resync") | Some("error") => {
                    return Ok(Subscription {
                        replayed,
                        answer: frame,
                    })
                }
                _ => {}
            }
        }
    }

    /// Resumes a room after `after`: the replayed events (not frames) and `subscribed`.
    ///
    /// # Panics
    /// On a `resync` or an `error` answer: a resume within the log must replay.
    pub async fn resume(
        &mut self,
        room_id: &str,
        after: Option<u64>,
    ) -> Result<(Vec<Value>, Value), Closed> {
        let Subscription { replayed, answer } = self.try_subscribe(room_id, after).await?;
        match answer["type"].as_str() {
            Some("subscribed") => {}
            Some("resync") => panic!("unexpected resync: {answer}"),
            _ => panic!("subscribe failed: {answer}"),
        }
        let events = replayed.into_iter().map(|f| f["event"].clone()).collect();
        Ok((events, answer))
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    /// The raw socket: to stop reading without closing (a slow consumer), to split it, or to read
    /// frames in a hot loop without this client's parsing.
    pub fn into_inner(self) -> Socket {
        self.socket
    }
}

/// A `ws://host:port/path?query` URL's `host:port` and its path with the query (`/` if none).
fn split_url(url: &str) -> anyhow::Result<(&str, &str)> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| anyhow!("not a ws:// URL: {url}"))?;
    Ok(match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    })
}

/// What [`WsClient::try_subscribe`] read: the replayed `event` frames and the answer.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub replayed: Vec<Value>,
    /// The `subscribed`, `resync` or `error` frame.
    pub answer: Value,
}

/// Test conveniences: each panics when the client's wait passes or the socket ends.
impl WsClient {
    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.try_send_text(text).await.expect("frame sent");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.try_send_raw(message).await.expect("frame sent");
    }

    /// The next JSON frame.
    pub async fn next(&mut self) -> Value {
        match self.next_or_close().await {
            Ok(value) => value,
            Err(closed) => panic!("socket closed ({closed:?}) while a frame was expected"),
        }
    }

    /// The next JSON frame, or how the socket closed.
    pub async fn next_or_close(&mut self) -> Result<Value, Closed> {
        match self.next_within(self.wait).await {
            Err(Closed::TimedOut) => panic!("a frame arrives in time (waited {:?})", self.wait),
            other => other,
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

    /// Skips frames until `pick` accepts one, all within one wait; `what` names it in the panic.
    pub async fn expect_with<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&Value) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Ok(frame) => {
                    if let Some(found) = pick(&frame) {
                        return found;
                    }
                }
                Err(closed) => panic!("waiting for {what}: socket ended ({closed:?})"),
            }
        }
    }

    /// Skips frames until an `event` of `kind` arrives; answers the event.
    pub async fn expect_event(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.expect("event").await;
            if frame["event"]["kind"] == kind {
                return frame["event"].clone();
            }
        }
    }

    /// Skips frames until the socket closes; the close code.
    pub async fn expect_close(&mut self) -> Closed {
        loop {
            match self.next_or_close().await {
                Ok(_) => continue,
                Err(closed) => return closed,
            }
        }
    }

    /// Subscribes; answers the replayed `event` frames and the `subscribed` or `resync` frame.
    pub async fn subscribe(&mut self, room_id: &str, after: Option<u64>) -> (Vec<Value>, Value) {
        match self.try_subscribe(room_id, after).await {
            Ok(Subscription { answer, .. }) if answer["type"] == "error" => {
                panic!("subscribe failed: {answer}")
            }
            Ok(Subscription { replayed, answer }) => (replayed, answer),
            Err(Closed::TimedOut) => panic!("a frame arrives in time (waited {:?})", self.wait),
            Err(closed) => panic!("socket closed ({closed:?}) while a frame was expected"),
        }
    }

    /// Sends a message; answers its `ack` or `error` frame (matched by `client_id`).
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

    /// Sends a reply or a thread reply (issue #10); answers its `ack` or `error` frame.
    pub async fn send_in(
        &mut self,
        room_id: &str,
        client_id: &str,
        body: &str,
        reply_to: Option<&str>,
        thread_id: Option<&str>,
    ) -> Value {
        let mut frame =
            json!({"type": "send", "room_id": room_id, "client_id": client_id, "body": body});
        if let Some(reply_to) = reply_to {
            frame["reply_to"] = json!(reply_to);
        }
        if let Some(thread_id) = thread_id {
            frame["thread_id"] = json!(thread_id);
        }
        self.send(frame).await;
        loop {
            let frame = self.next().await;
            if (frame["type"] == "ack" || frame["type"] == "error")
                && frame["client_id"] == client_id
            {
                return frame;
            }
        }
    }

    /// Sends a `react` (or, with `add` false, `unreact`) frame with `ref` (issue #10). The
    /// answer is the room's `reaction.*` event (when subscribed), or an error frame with `ref`.
    pub async fn react(
        &mut self,
        room_id: &str,
        message_id: &str,
        emoji: &str,
        add: bool,
        r: &str,
    ) {
        let kind = if add { "react" } else { "unreact" };
        self.send(
            json!({"type": kind, "room_id": room_id, "message_id": message_id,
            "emoji": emoji, "ref": r}),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ws_url_splits_into_address_and_path() {
        let split = split_url("ws://127.0.0.1:8080/ws?token=t").unwrap();
        assert_eq!(split, ("127.0.0.1:8080", "/ws?token=t"));
        assert_eq!(split_url("ws://localhost:1").unwrap(), ("localhost:1", "/"));
        assert!(split_url("http://127.0.0.1:8080/ws").is_err());
    }
}
