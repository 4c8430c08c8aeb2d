//! `palaver admin grant|revoke USERNAME`: makes an account a site admin, or not, in the store the
//! configuration names (the SQLite file in the data dir, or `PALAVER_DATABASE_URL`). The server
//! may be running: the change is one committed row, read on the account's next request.

use anyhow::Context;

use crate::config::{AdminAction, Config};
use crate::error::Error;
use crate::protocol::User;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::PeopleStore;

/// What the command did.
#[derive(Debug)]
pub enum AdminOutcome {
    Done(User),
    /// No live account has that username.
    NoSuchUser,
}

/// Exit codes of `palaver admin`: 0 done, 1 no such user, 3 the store failed (2 is clap's, for
/// a malformed command line).
pub const EXIT_NO_SUCH_USER: u8 = 1;
pub const EXIT_STORE_FAILED: u8 = 3;

/// Runs the command against the configured store.
pub async fn run(config: &Config, action: &AdminAction) -> anyhow::Result<AdminOutcome> {
    let (username, admin) = match action {
        AdminAction::Grant { username } => (username.as_str(), true),
        AdminAction::Revoke { username } => (username.as_str(), false),
    };
    let result = match &config.database_url {
        Some(url) if url.starts_with("postgres") => {
            let store = PostgresStore::open(url, 2)
                .await
                .context("opening the PostgreSQL store")?;
            let result = store.set_admin(username, admin).await;
            store.close().await;
            result
        }
        Some(url) => {
            let store = SqliteStore::open(url)
                .await
                .context("opening the SQLite store")?;
            let result = store.set_admin(username, admin).await;
            store.close().await;
            result
        }
        None => {
            let store = SqliteStore::open_in(&config.data_dir)
                .await
                .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
            let result = store.set_admin(username, admin).await;
            store.close().await;
            result
        }
    };
    match result {
        Ok(user) => Ok(AdminOutcome::Done(user)),
        Err(Error::UserNotFound) => Ok(AdminOutcome::NoSuchUser),
        Err(err) => Err(anyhow::Error::new(err).context("changing the account")),
    }
}
