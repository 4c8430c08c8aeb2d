//! A fresh PostgreSQL database per test, dropped when its guard is.
//!
//! The server is `PALAVER_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`, the
//! README's test command starts it). An unreachable server fails the test: it never skips.

use sqlx::{Connection, Executor, PgConnection};

pub fn server_url() -> String {
    std::env::var("PALAVER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A database that exists until this guard is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let name = format!("palaver_test_{:016x}", rand::random::<u64>());
        let mut admin = maintenance().await;
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap_or_else(|err| panic!("creating test database {name}: {err}"));
        let _ = admin.close().await;
        let url = format!("{}/{name}", server_url());
        TestDatabase { name, url }
    }
}

async fn maintenance() -> PgConnection {
    let url = format!("{}/postgres", server_url());
    PgConnection::connect(&url).await.unwrap_or_else(|err| {
        panic!(
            "PostgreSQL is not reachable at {url} ({err}); run the README's test command, \
             which starts it"
        )
    })
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which can't be blocked on: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let mut admin = maintenance().await;
                admin
                    .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                    .await
                    .map(|_| ())
            })
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("could not drop test database {}: {err}", self.name);
        }
    }
}
