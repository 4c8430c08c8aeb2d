//! Real `palaver` processes sharing a fresh PostgreSQL database and a Redis, and the clients that
//! talk to them. Every wait has a deadline; a failing test prints the nodes' logs.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[path = "../support/pgdb.rs"]
pub mod pgdb;

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

pub fn redis_url() -> String {
    std::env::var("PALAVER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it answers `Some`, or panics with `what` after `WAIT`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One `palaver` process.
pub struct Node {
    pub name: String,
    pub port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// One node alone on an SQLite data dir of its own under `dir`, with the in-process bus: the
    /// embedded setup. Not started yet. Its log is `dir/<name>.log`.
    pub fn embedded(dir: &std::path::Path, name: &str) -> Node {
        let env = [
            ("PALAVER_DATA_DIR", dir.join(name).display().to_string()),
            ("PALAVER_SHUTDOWN_GRACE_SECS", "3".to_string()),
            // The tests' clients send as fast as acks allow and sign in many guests from one
            // address: the abuse limits have their own tests.
            ("PALAVER_RATE_PER_SEC", "0".to_string()),
            ("PALAVER_LOGIN_PER_ADDRESS_PER_MIN", "0".to_string()),
            ("RUST_LOG", "info,tower_http=warn,sqlx=warn".to_string()),
        ];
        Node {
            name: name.to_string(),
            port: free_port(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            log: dir.join(format!("{name}.log")),
            child: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the process (again) and waits until `/readyz` answers 200.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_palaver"))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PALAVER_LISTEN", self.addr())
            .env("PALAVER_NODE_ID", &self.name)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("palaver starts");
        self.child = Some(child);
        let http = reqwest::Client::new();
        let url = self.url("/readyz");
        let name = self.name.clone();
        eventually(&format!("{name} to be ready"), || {
            let http = http.clone();
            let url = url.clone();
            async move {
                let response = http.get(&url).send().await.ok()?;
                (response.status() == 200).then_some(())
            }
        })
        .await;
    }

    /// SIGKILL: the process dies on the spot, mid-whatever.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill");
        }
    }

    /// SIGTERM and wait for a clean exit (sockets closed with 1001).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().expect("running").to_string();
            let status = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill -TERM");
            assert!(status.success());
            let exit = tokio::time::timeout(WAIT, child.wait())
                .await
                .expect("the node stops in time")
                .expect("wait");
            assert!(exit.success(), "{} exited with {exit}", self.name);
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Nodes sharing one fresh database and one Redis under a channel prefix of their own.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub http: reqwest::Client,
    dir: tempfile::TempDir,
    // Dropped after the nodes (fields drop in order): the database goes last.
    _db: pgdb::TestDatabase,
}

pub struct ClusterOptions {
    pub nodes: usize,
    /// Overrides the database URL the nodes use (a proxy in front of the real one).
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    /// Fixed ports (for nginx, whose upstream names them); free ones otherwise.
    pub ports: Vec<u16>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            nodes: 2,
            database_url: None,
            redis_url: Some(redis_url()),
            ports: Vec::new(),
        }
    }
}

impl Cluster {
    pub async fn start(options: ClusterOptions) -> Cluster {
        let db = pgdb::TestDatabase::create().await;
        Self::start_on(db, options).await
    }

    pub async fn start_on(db: pgdb::TestDatabase, options: ClusterOptions) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let prefix = format!("palaver-test-{:08x}:", rand::random::<u32>());
        let database_url = options.database_url.clone().unwrap_or(db.url.clone());
        let mut nodes = Vec::new();
        for i in 0..options.nodes {
            let name = format!("node-{}", (b'a' + i as u8) as char);
            let mut env = vec![
                ("PALAVER_DATABASE_URL".to_string(), database_url.clone()),
                (
                    "PALAVER_DATA_DIR".to_string(),
                    dir.path().join(&name).display().to_string(),
                ),
                ("PALAVER_REDIS_PREFIX".to_string(), prefix.clone()),
                // Fast liveness signals, so the tests wait seconds, not tens of them.
                ("PALAVER_HEARTBEAT_MS".to_string(), "200".to_string()),
                ("PALAVER_PRESENCE_TTL_MS".to_string(), "1500".to_string()),
                ("PALAVER_CATCH_UP_MS".to_string(), "500".to_string()),
                ("PALAVER_SHUTDOWN_GRACE_SECS".to_string(), "3".to_string()),
                // The tests' clients send as fast as acks allow and sign in many guests from
                // one address: the abuse limits have their own tests.
                ("PALAVER_RATE_PER_SEC".to_string(), "0".to_string()),
                (
                    "PALAVER_LOGIN_PER_ADDRESS_PER_MIN".to_string(),
                    "0".to_string(),
                ),
                (
                    "RUST_LOG".to_string(),
                    "info,tower_http=warn,sqlx=warn".to_string(),
                ),
            ];
            if let Some(redis) = &options.redis_url {
                env.push(("PALAVER_REDIS_URL".to_string(), redis.clone()));
            }
            let port = options.ports.get(i).copied().unwrap_or_else(free_port);
            nodes.push(Node {
                log: dir.path().join(format!("{name}.log")),
                name,
                port,
                env,
                child: None,
            });
        }
        // Start them together: they race on migrations and seeding, as real nodes do.
        let starts = nodes.iter_mut().map(|n| n.start());
        futures_util::future::join_all(starts).await;
        Cluster {
            nodes,
            http: reqwest::Client::new(),
            dir,
            _db: db,
        }
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// Prints every node's log (a failing test does it by itself).
    pub fn dump_logs(&self) {
        for node in &self.nodes {
            eprintln!("----- {} log -----\n{}", node.name, node.log());
        }
    }

    pub async fn post(&self, url: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(url).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        read(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, url: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        read(req.send().await.expect("request sent")).await
    }

    /// A guest signed in through `base` (a node or the load balancer): (user, token).
    pub async fn guest(&self, base: &str, name: &str) -> (Value, String) {
        let (status, body) = self
            .post(
                &format!("{base}/api/auth/guest"),
                None,
                json!({"username": name}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["user"].clone(),
            body["token"].as_str().unwrap().to_string(),
        )
    }

    pub async fn create_room(&self, base: &str, token: &str, name: &str) -> String {
        let (status, body) = self
            .post(
                &format!("{base}/api/rooms"),
                Some(token),
                json!({"name": name}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// The store's view of a room: (last_seq, message ids in display order).
    pub async fn store_view(&self, base: &str, token: &str, room_id: &str) -> (u64, Vec<String>) {
        let (status, room) = self
            .get(&format!("{base}/api/rooms/{room_id}"), Some(token))
            .await;
        assert_eq!(status, 200, "{room}");
        let (status, page) = self
            .get(
                &format!("{base}/api/rooms/{room_id}/messages?limit=200"),
                Some(token),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["has_more"], false, "more messages than one page");
        let ids = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        (room["last_seq"].as_u64().unwrap(), ids)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("nodes' logs (in {}):", self.dir.path().display());
            self.dump_logs();
        }
    }
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a socket ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    Code(u16),
    Dropped,
    TimedOut,
}

/// A WebSocket client that knows only JSON frames.
pub struct WsClient {
    socket: Socket,
    pub node_id: String,
}

impl WsClient {
    /// Connects to `addr` (host:port) with a token and reads `hello`.
    pub async fn connect(addr: &str, token: &str) -> Result<WsClient, String> {
        let url = format!("ws://{addr}/ws?token={token}");
        let (socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|err| err.to_string())?;
        let mut client = WsClient {
            socket,
            node_id: String::new(),
        };
        let hello = client
            .next_within(WAIT)
            .await
            .map_err(|c| format!("closed before hello: {c:?}"))?;
        assert_eq!(hello["type"], "hello", "{hello}");
        client.node_id = hello["node_id"].as_str().unwrap_or_default().to_string();
        Ok(client)
    }

    pub async fn send(&mut self, frame: Value) -> Result<(), Closed> {
        self.socket
            .send(WsMessage::Text(frame.to_string().into()))
            .await
            .map_err(|_| Closed::Dropped)
    }

    /// The next JSON frame within `limit`, or how the socket ended.
    pub async fn next_within(&mut self, limit: Duration) -> Result<Value, Closed> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Ok(message) => message,
                Err(_) => return Err(Closed::TimedOut),
            };
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

    /// Skips frames until `pick` accepts one.
    pub async fn expect<T>(&mut self, what: &str, mut pick: impl FnMut(&Value) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
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

    /// Skips frames until an event of `kind` arrives; answers the event.
    pub async fn expect_event(&mut self, kind: &str) -> Value {
        self.expect(kind, |f| {
            (f["type"] == "event" && f["event"]["kind"] == kind).then(|| f["event"].clone())
        })
        .await
    }

    /// Subscribes (replaying after `after`); answers the replayed events and `subscribed`.
    pub async fn subscribe(
        &mut self,
        room_id: &str,
        after: Option<u64>,
    ) -> Result<(Vec<Value>, Value), Closed> {
        let mut frame = json!({"type": "subscribe", "room_id": room_id});
        if let Some(after) = after {
            frame["after"] = json!(after);
        }
        self.send(frame).await?;
        let mut replayed = Vec::new();
        loop {
            let frame = self.next_within(WAIT).await?;
            match frame["type"].as_str() {
                Some("event") => replayed.push(frame["event"].clone()),
                Some("subscribed") => return Ok((replayed, frame)),
                Some("resync") => panic!("unexpected resync: {frame}"),
                Some("error") => panic!("subscribe failed: {frame}"),
                _ => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
