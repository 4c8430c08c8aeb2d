//! Real `palaver` processes sharing a fresh PostgreSQL database and a Redis, and the protocol's
//! one client (`palaver-client`) talking to them. Every wait has a deadline; a failing test
//! prints the nodes' logs.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use palaver_client::{rest, Connect, Rest};
pub use palaver_client::{Closed, WsClient};
use reqwest::Method;
use serde_json::Value;
use tokio::process::{Child, Command};

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
            ("PALAVER_GUESTS_PER_ADDRESS_PER_MIN", "0".to_string()),
            ("PALAVER_GUESTS_PER_MIN", "0".to_string()),
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

    /// Sets an environment variable of the process (from its next start on).
    #[allow(dead_code)]
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_string(), value.to_string()));
    }

    /// The running process's id.
    #[allow(dead_code)]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
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
                    "PALAVER_GUESTS_PER_ADDRESS_PER_MIN".to_string(),
                    "0".to_string(),
                ),
                ("PALAVER_GUESTS_PER_MIN".to_string(), "0".to_string()),
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
        rest::call(&self.http, Method::POST, url, token, Some(&body))
            .await
            .expect("request sent")
    }

    pub async fn get(&self, url: &str, token: Option<&str>) -> (u16, Value) {
        rest::call(&self.http, Method::GET, url, token, None)
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, url: &str, token: Option<&str>) -> (u16, Value) {
        rest::call(&self.http, Method::DELETE, url, token, None)
            .await
            .expect("request sent")
    }

    /// The REST client of `base` (a node or the load balancer).
    pub fn rest(&self, base: &str) -> Rest {
        Rest::with_client(base, self.http.clone())
    }

    /// A guest signed in through `base` (a node or the load balancer): (user, token).
    pub async fn guest(&self, base: &str, name: &str) -> (Value, String) {
        let session = self.rest(base).guest(name).await.expect("a guest signs in");
        (serde_json::to_value(&session.user).unwrap(), session.token)
    }

    pub async fn create_room(&self, base: &str, token: &str, name: &str) -> String {
        let room = self.rest(base).create_room(token, name).await;
        room.expect("the room is created").id
    }

    /// The store's view of a room: (last_seq, message ids in display order).
    pub async fn store_view(&self, base: &str, token: &str, room_id: &str) -> (u64, Vec<String>) {
        let rest = self.rest(base);
        let room = rest.room(token, room_id).await.expect("the room reads");
        let page = rest.history(token, room_id, 200).await;
        let page = page.expect("the history reads");
        assert!(!page.has_more, "more messages than one page");
        (
            room.last_seq,
            page.messages.into_iter().map(|m| m.id).collect(),
        )
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

/// Connects to `addr` (host:port) with the token in the query and reads `hello`; every wait of
/// the client is [`WAIT`].
pub async fn connect(addr: &str, token: &str) -> anyhow::Result<WsClient> {
    WsClient::open(&Connect::new(addr).query_token(token).hello().wait(WAIT)).await
}
