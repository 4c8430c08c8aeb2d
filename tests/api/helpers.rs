//! The test harness: the real server on port 0 with a temporary data dir, and the protocol's
//! one client (`palaver-client`): REST, and a WebSocket client whose every wait has a deadline.

use std::path::PathBuf;
use std::time::Duration;

use palaver::protocol::{Event, Message, Room, User};
use palaver::{Application, Config};
use palaver_client::Rest;
pub use palaver_client::{Closed, WsClient};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long any single wait in a test may take before the test fails (the client's default).
pub const WAIT: Duration = palaver_client::ws::DEFAULT_WAIT;

pub struct TestApp {
    pub addr: String,
    /// The server's shared state (its hub, rules and settings), for tests that look inside.
    #[allow(dead_code)]
    pub state: palaver::state::AppState,
    /// The separate metrics listener's address, when the config set `metrics_listen`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database a `spawn_on(Postgres)` server uses; dropped after the server.
    _db: Option<crate::pgdb::TestDatabase>,
    /// The S3-compatible server a `spawn_files_on(…, Blobs::S3)` server keeps its files in.
    #[allow(dead_code)]
    pub s3: Option<crate::s3server::S3Server>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    pub http: reqwest::Client,
    rest: Rest,
}

/// Which store a test's server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // each store's tests pick one
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// The server on the given store: SQLite in a temporary dir, or a fresh PostgreSQL database that
/// lives as long as the returned app. Tests that must hold on both stores run once per kind
/// (see `both_stores!`).
#[allow(dead_code)]
pub async fn spawn_on(kind: StoreKind) -> TestApp {
    spawn_on_with(kind, |_| {}).await
}

#[allow(dead_code)]
pub async fn spawn_on_with(kind: StoreKind, tweak: impl FnOnce(&mut Config)) -> TestApp {
    match kind {
        StoreKind::Sqlite => spawn_with(tweak).await,
        StoreKind::Postgres => {
            let db = crate::pgdb::TestDatabase::create().await;
            let url = db.url.clone();
            let mut app = spawn_with(move |config| {
                config.database_url = Some(url);
                tweak(config);
            })
            .await;
            app._db = Some(db);
            app
        }
    }
}

/// Where a test server keeps the bytes of files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub enum Blobs {
    /// The store's own: the data dir with SQLite, `blob_chunks` with PostgreSQL.
    Native,
    /// An S3-compatible server (`s3s-fs`) started for the test.
    S3,
}

/// The server on the given store, with its files where `blobs` says.
#[allow(dead_code)]
pub async fn spawn_files_on(
    kind: StoreKind,
    blobs: Blobs,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    match blobs {
        Blobs::Native => spawn_on_with(kind, tweak).await,
        Blobs::S3 => {
            let s3 = crate::s3server::S3Server::start();
            let mut app = spawn_on_with(kind, |config| {
                s3.configure(config);
                tweak(config);
            })
            .await;
            app.s3 = Some(s3);
            app
        }
    }
}

/// Runs each named async test function (taking a [`StoreKind`]) once on SQLite and once on
/// PostgreSQL, as `mod sqlite { #[tokio::test] fn name }` and `mod postgres { … }`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::helpers::StoreKind::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::helpers::StoreKind::Postgres).await
            })*
        }
    };
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
    let metrics_addr = app.metrics_addr();
    let state = app.state();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    TestApp {
        rest: Rest::with_client(&format!("http://{addr}"), http.clone()),
        addr,
        state,
        metrics_addr,
        data_dir,
        _dir: None,
        _db: None,
        s3: None,
        shutdown,
        server: Some(server),
        http,
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
        let db = self._db.take();
        let s3 = self.s3.take();
        let url = db.as_ref().map(|db| db.url.clone());
        let mut app = start(self.data_dir.clone(), |config| {
            if url.is_some() {
                config.database_url = url;
            }
            if let Some(s3) = &s3 {
                s3.configure(config);
            }
        })
        .await;
        app._dir = dir;
        app._db = db;
        app.s3 = s3;
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
        self.rest
            .post(path, token, body)
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.rest.get(path, token).await.expect("request sent")
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.rest.delete(path, token).await.expect("request sent")
    }

    #[allow(dead_code)]
    pub async fn put(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.rest.put(path, token).await.expect("request sent")
    }

    /// The protocol's REST client of this server.
    #[allow(dead_code)]
    pub fn rest(&self) -> &Rest {
        &self.rest
    }

    #[allow(dead_code)] // for the chat-semantics tests
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.rest
            .patch(path, token, body)
            .await
            .expect("request sent")
    }

    /// Runs one statement with text arguments on the server's own store (the SQLite file, or
    /// the PostgreSQL database): for setting up what no endpoint does (a site admin, a role).
    #[allow(dead_code)]
    pub async fn store_execute(&self, sql: &str, args: &[&str]) {
        use sqlx::Connection;
        match &self._db {
            Some(db) => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("pg");
                let mut query = sqlx::query(sql);
                for arg in args {
                    query = query.bind(*arg);
                }
                query.execute(&mut conn).await.expect("the statement runs");
            }
            None => {
                let url = format!("sqlite://{}", self.data_dir.join("palaver.db").display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
                let mut query = sqlx::query(sql);
                for arg in args {
                    query = query.bind(*arg);
                }
                query.execute(&mut conn).await.expect("the statement runs");
            }
        }
    }

    /// Runs one query with text arguments on the server's own store and answers its first
    /// column of its first row as a number (a `COUNT(*)`): for checking what no endpoint shows.
    #[allow(dead_code)]
    pub async fn store_count(&self, sql: &str, args: &[&str]) -> i64 {
        use sqlx::Connection;
        match &self._db {
            Some(db) => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("pg");
                let mut query = sqlx::query_scalar::<_, i64>(sql);
                for arg in args {
                    query = query.bind(*arg);
                }
                query.fetch_one(&mut conn).await.expect("the query runs")
            }
            None => {
                let url = format!("sqlite://{}", self.data_dir.join("palaver.db").display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
                let mut query = sqlx::query_scalar::<_, i64>(sql);
                for arg in args {
                    query = query.bind(*arg);
                }
                query.fetch_one(&mut conn).await.expect("the query runs")
            }
        }
    }

    /// The PostgreSQL database the server uses; `None` on SQLite (its file is in `data_dir`).
    #[allow(dead_code)]
    pub fn database_url(&self) -> Option<String> {
        self._db.as_ref().map(|db| db.url.clone())
    }

    /// A guest session: (user, token).
    pub async fn guest(&self, name: &str) -> (User, String) {
        let session = self.rest.guest(name).await.expect("a guest signs in");
        (session.user, session.token)
    }

    pub async fn create_room(&self, token: &str, name: &str) -> Room {
        self.rest
            .create_room(token, name)
            .await
            .expect("the room is created")
    }

    pub async fn history(&self, token: &str, room_id: &str) -> Vec<Message> {
        let page = self.rest.history(token, room_id, 200).await;
        page.expect("the history reads").messages
    }

    pub async fn events(&self, token: &str, room_id: &str, after: u64) -> Vec<Event> {
        let page = self.rest.events(token, room_id, after, 1000).await;
        page.expect("the events read").events
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
