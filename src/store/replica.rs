//! Opening and syncing an embedded replica, and rebuilding one whose primary is now another
//! database (recreated, or restored from a copy that is not this one's ancestor): its file no
//! longer matches the primary, and syncing never fixes that, so at open it is set aside (kept,
//! not deleted) and a fresh replica is pulled.

use std::path::{Path, PathBuf};

use libsql::Database;

pub(super) enum ReplicaError {
    #[cfg_attr(feature = "turso-replica", allow(dead_code))]
    Unavailable,
    #[cfg_attr(not(feature = "turso-replica"), allow(dead_code))]
    Libsql(libsql::Error),
}

#[cfg(feature = "turso-replica")]
pub(super) async fn open_replica(
    path: &Path,
    url: &str,
    token: &str,
) -> Result<Database, ReplicaError> {
    // The replication protocol (what sqld and Turso serve, and what the tests run against),
    // named rather than probed: the probe needs the primary at open, and the newer protocol
    // reports no replication index, which `Store::sync` reads to notice a replaced primary.
    libsql::Builder::new_remote_replica(path, url.to_owned(), token.to_owned())
        .sync_protocol(libsql::SyncProtocol::V1)
        // Synced by `sync::run` every ANOMSTACK_TURSO_SYNC_SECONDS, so failures are seen.
        .read_your_writes(true)
        .build()
        .await
        .map_err(ReplicaError::Libsql)
}

#[cfg(feature = "turso-replica")]
pub(super) async fn sync_replica(db: &Database) -> Result<Option<u64>, libsql::Error> {
    Ok(db.sync().await?.frame_no())
}

#[cfg(not(feature = "turso-replica"))]
pub(super) async fn sync_replica(_db: &Database) -> Result<Option<u64>, libsql::Error> {
    Ok(None)
}

#[cfg(not(feature = "turso-replica"))]
pub(super) async fn open_replica(
    _path: &Path,
    _url: &str,
    _token: &str,
) -> Result<Database, ReplicaError> {
    Err(ReplicaError::Unavailable)
}

/// Whether a sync's error says the primary's log is not the one this replica follows.
pub(super) fn log_incompatible(e: &libsql::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("logincompatible") || text.contains("log incompatible")
}

/// Moves the replica's files (`path` and its `path-*` companions) into a new folder beside
/// it, `<name>.replaced-<time>`, and returns that folder.
pub(super) fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
    let mut aside = dir.join(format!("{name}.replaced-{stamp}"));
    // Never into a folder kept before.
    let mut n = 1;
    while aside.exists() {
        n += 1;
        aside = dir.join(format!("{name}.replaced-{stamp}-{n}"));
    }
    std::fs::create_dir_all(&aside)?;
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && (file == name || file.starts_with(&format!("{name}-"))) {
            std::fs::rename(entry.path(), aside.join(&file))?;
        }
    }
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_replica_is_moved_aside_with_its_companions_only() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "app.db",
            "app.db-client_wal_index",
            "app.db-wal",
            "app.dbx",
            "other.db",
        ] {
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        let aside = set_aside(&dir.path().join("app.db")).unwrap();
        let mut moved: Vec<String> = std::fs::read_dir(&aside)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        moved.sort();
        assert_eq!(moved, ["app.db", "app.db-client_wal_index", "app.db-wal"]);
        assert!(dir.path().join("app.dbx").exists() && dir.path().join("other.db").exists());
        assert!(!dir.path().join("app.db").exists());
    }
}
