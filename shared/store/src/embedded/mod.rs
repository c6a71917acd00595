//! Embedded adapters: one SQLite file for state and queue, a directory for staging. What the
//! local runner uses when no AWS account is involved. Durable across restarts (WAL journal).
//!
//! SQLite calls are blocking, so each runs on tokio's blocking pool behind one connection
//! mutex: writes are serialised, which is also what makes conditional writes atomic here.

mod queue;
mod staging;
mod state;

pub use queue::SqliteQueue;
pub use staging::DirStaging;
pub use state::SqliteState;

use crate::{Result, StoreError, Stores};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// A message received this many times without being acked goes to the dead-letter queue
    /// (SQS `maxReceiveCount`).
    pub max_receives: u32,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions { max_receives: 5 }
    }
}

/// Opens (creating if needed) `<dir>/state.sqlite` and `<dir>/staging/`.
pub fn open(dir: &Path, options: EmbeddedOptions) -> Result<Stores> {
    std::fs::create_dir_all(dir).map_err(|e| io_error("create state directory", dir, e))?;
    let db = Db::open(&dir.join("state.sqlite"))?;
    let state = Arc::new(SqliteState::new(db.clone()));
    Ok(Stores {
        mapping: state.clone(),
        audit: state.clone(),
        idempotency: state.clone(),
        checkpoints: state.clone(),
        documents: state,
        queue: Arc::new(SqliteQueue::new(db, options.max_receives)),
        staging: Arc::new(DirStaging::open(&dir.join("staging"))?),
    })
}

/// Copies the embedded state in `dir` into `into` (created if needed) without writing to `dir`:
/// the database through SQLite's `VACUUM INTO` on a read-only connection (a consistent copy
/// even while a `connector serve` writes to it), and the staging folder file by file.
/// In the copy, claims in progress are released and queued messages made visible (see below).
/// `connector plan` runs on such a copy. Nothing to copy (no `state.sqlite`): `Ok(false)`.
pub fn snapshot(dir: &Path, into: &Path) -> Result<bool> {
    let db = dir.join("state.sqlite");
    std::fs::create_dir_all(into).map_err(|e| io_error("create state directory", into, e))?;
    if !db.is_file() {
        return Ok(false);
    }
    let target = into.join("state.sqlite");
    let read_only = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // A WAL database has its `-wal` file while any connection is open. Without one nobody has
    // it open: it is read as immutable, which creates no `-wal`/`-shm` beside it (a read-only
    // open would, and leave them), so the state directory stays byte-identical.
    let live = dir.join("state.sqlite-wal").exists();
    let conn = if live {
        Connection::open_with_flags(&db, read_only)
    } else {
        let path = db.to_string_lossy().replace('%', "%25").replace('?', "%3f").replace('#', "%23");
        Connection::open_with_flags(
            format!("file:{path}?immutable=1"),
            read_only | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )
    }
    .map_err(|e| sqlite_error("open database read-only", e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| sqlite_error("busy timeout", e))?;
    conn.execute("VACUUM INTO ?1", [target.to_string_lossy().as_ref()])
        .map_err(|e| sqlite_error("copy database", e))?;
    drop(conn);
    // The copy has no workers: claims held by the source's are released and messages they
    // received (or left to wait for a retry) are visible at once, so a run on the copy does
    // not wait out leases nobody will give back.
    let copy = Connection::open(&target).map_err(|e| sqlite_error("open copy", e))?;
    copy.execute_batch(
        "DELETE FROM idempotency WHERE status = 'INPROGRESS';
         UPDATE queue SET visible_at = 0, receipt = NULL WHERE dead = 0;",
    )
    .map_err(|e| sqlite_error("release claims in the copy", e))?;
    drop(copy);
    copy_tree(&dir.join("staging"), &into.join("staging"))?;
    Ok(true)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if !from.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(to).map_err(|e| io_error("create directory", to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io_error("list directory", from, e))? {
        let entry = entry.map_err(|e| io_error("list directory", from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| io_error("read file type", &src, e))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).map_err(|e| io_error("copy file", &src, e))?;
        }
    }
    Ok(())
}

/// Every audit record in the embedded state in `dir` whose id sorts after `after` (audit ids
/// are ULIDs: after a moment, in creation order), oldest first. What `connector plan` reads
/// back from its scratch copy, and what its test reads from the real state after a real run.
pub fn audit_after(dir: &Path, after: &str) -> Result<Vec<connector_core::AuditRecord>> {
    let conn = Connection::open_with_flags(
        dir.join("state.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sqlite_error("open database read-only", e))?;
    let mut stmt = conn
        .prepare("SELECT sk, body FROM audit WHERE sk > ?1 ORDER BY sk")
        .map_err(|e| sqlite_error("list audit", e))?;
    let rows = stmt
        .query_map([after], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
        .map_err(|e| sqlite_error("list audit", e))?;
    let mut out = Vec::new();
    for row in rows {
        let (sk, body) = row.map_err(|e| sqlite_error("list audit", e))?;
        out.push(
            serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt { key: sk, message: e.to_string() })?,
        );
    }
    Ok(out)
}

/// One SQLite connection shared by the adapters.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

// Every transaction that writes begins IMMEDIATE: a deferred one that reads first and then
// writes gets SQLITE_BUSY at once, without waiting out busy_timeout, when another process (a
// `connector reconcile` beside `serve` on the same state) wrote in between ("database is
// locked", seen in the local-mode test).
const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA busy_timeout = 5000;
CREATE TABLE IF NOT EXISTS state (
    pk TEXT NOT NULL, sk TEXT NOT NULL,
    asset_pk TEXT, asset_sk TEXT,
    revision INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
);
CREATE INDEX IF NOT EXISTS state_by_asset ON state (asset_pk, asset_sk) WHERE asset_pk IS NOT NULL;
CREATE TABLE IF NOT EXISTS audit (
    pk TEXT NOT NULL, sk TEXT NOT NULL,
    asset_pk TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
);
CREATE INDEX IF NOT EXISTS audit_by_asset ON audit (asset_pk, sk) WHERE asset_pk IS NOT NULL;
CREATE TABLE IF NOT EXISTS idempotency (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    expiration INTEGER NOT NULL,
    in_progress_expiration INTEGER,
    data TEXT,
    validation TEXT
);
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    visible_at INTEGER NOT NULL,
    receipt TEXT,
    dead INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_visible ON queue (dead, visible_at, seq);
";

impl Db {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| sqlite_error("open database", e))?;
        conn.execute_batch(SCHEMA).map_err(|e| sqlite_error("create schema", e))?;
        Ok(Db { conn: Arc::new(Mutex::new(conn)), path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn run<T, F>(&self, operation: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Backend {
            backend: "sqlite",
            operation,
            message: format!("blocking task failed: {e}"),
            transient: false,
        })?
    }
}

/// A transaction that writes: IMMEDIATE, so it waits out busy_timeout for another process's
/// write instead of failing at its first write (see SCHEMA's comment).
pub(crate) fn begin_write(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| sqlite_error("begin", e))
}

pub(crate) fn sqlite_error(operation: &'static str, e: rusqlite::Error) -> StoreError {
    // SQLITE_BUSY/LOCKED come from another process holding the file: worth a retry.
    let transient = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked)
    );
    StoreError::Backend { backend: "sqlite", operation, message: e.to_string(), transient }
}

pub(crate) fn io_error(operation: &'static str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend {
        backend: "filesystem",
        operation,
        message: format!("{}: {e}", path.display()),
        transient: false,
    }
}
