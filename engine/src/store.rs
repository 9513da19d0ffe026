//! Burrow's single SQLite file. Every write goes through a `Store`.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::EngineError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
    /// Turns for password checks ([`crate::accounts`]).
    pub(crate) password_checks: std::sync::Arc<tokio::sync::Semaphore>,
    /// How long a check waits for its turn.
    pub(crate) password_check_wait: Duration,
}

impl Store {
    /// Opens (creating if needed) `burrow.db` in `data_dir` in WAL mode and
    /// runs every pending migration.
    #[tracing::instrument(skip_all, fields(data_dir = %data_dir.display()))]
    pub async fn open(data_dir: &Path) -> Result<Self, EngineError> {
        crate::data_dir::make_private(data_dir)?;
        let path = data_dir.join("burrow.db");
        crate::data_dir::create_private(&path)?;
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let store = Self {
            pool,
            path,
            password_checks: std::sync::Arc::new(tokio::sync::Semaphore::new(
                crate::accounts::CONCURRENT_CHECKS,
            )),
            password_check_wait: crate::accounts::CHECK_QUEUE_WAIT,
        };
        // Rows written before the audit log was chained join the chain.
        store.chain_unchained().await?;
        Ok(store)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the database answers a trivial query.
    pub async fn is_healthy(&self) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .is_ok()
    }
}
