//! `palaver reindex`: rebuilds the search index (issue #11) of the store the configuration names
//! (the SQLite file in the data dir, or `PALAVER_DATABASE_URL`) from the messages themselves.
//! The server may be running: on SQLite the rebuild is one write transaction (sends wait for
//! it), on PostgreSQL a `REINDEX` of the search index.

use anyhow::Context;

use crate::config::Config;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::SearchStore;

/// Runs the command against the configured store.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let result = match &config.database_url {
        Some(url) if url.starts_with("postgres") => {
            let store = PostgresStore::open(url, 2)
                .await
                .context("opening the PostgreSQL store")?;
            let result = store.reindex().await;
            store.close().await;
            result
        }
        Some(url) => {
            let store = SqliteStore::open(url)
                .await
                .context("opening the SQLite store")?;
            let result = store.reindex().await;
            store.close().await;
            result
        }
        None => {
            let store = SqliteStore::open_in(&config.data_dir)
                .await
                .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
            let result = store.reindex().await;
            store.close().await;
            result
        }
    };
    result.map_err(|err| anyhow::Error::new(err).context("rebuilding the search index"))
}
