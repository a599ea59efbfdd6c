//! Where trained models live: `local://<dir>` (files `<dir>/<batch>/<metric>_<tag>.json`,
//! the original's layout with our portable format instead of pickle) or `db://` (the app
//! database's `models` table). Object stores (S3, GCS, Azure) come later behind this type.

use std::path::{Path, PathBuf};

use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ModelStoreError {
    #[error("model_path `{0}`: this build stores models in local:// and db:// only")]
    Unsupported(String),
    #[error("model file {}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub enum ModelStore {
    Local { root: PathBuf },
    Db { store: Store },
}

impl ModelStore {
    /// The store a batch's `model_path` names.
    pub fn from_path(model_path: &str, store: &Store) -> Result<Self, ModelStoreError> {
        if let Some(dir) = model_path.strip_prefix("local://") {
            Ok(ModelStore::Local {
                root: PathBuf::from(if dir.is_empty() { "." } else { dir }),
            })
        } else if model_path.starts_with("db://") {
            Ok(ModelStore::Db {
                store: store.clone(),
            })
        } else {
            Err(ModelStoreError::Unsupported(model_path.to_owned()))
        }
    }

    pub async fn save(
        &self,
        batch: &str,
        metric: &str,
        tag: &str,
        body: &[u8],
    ) -> Result<(), ModelStoreError> {
        match self {
            ModelStore::Local { root } => {
                let path = file_path(root, batch, metric, tag);
                let io = |e: std::io::Error| ModelStoreError::Io {
                    path: path.clone(),
                    reason: e.to_string(),
                };
                if let Some(dir) = path.parent() {
                    tokio::fs::create_dir_all(dir).await.map_err(io)?;
                }
                // Write then rename, so a reader never sees half a model.
                let tmp = path.with_extension("json.tmp");
                tokio::fs::write(&tmp, body).await.map_err(io)?;
                tokio::fs::rename(&tmp, &path).await.map_err(io)?;
                Ok(())
            }
            ModelStore::Db { store } => Ok(store.save_model(batch, metric, tag, body).await?),
        }
    }

    /// The stored model, or `None` when the metric has none yet.
    pub async fn load(
        &self,
        batch: &str,
        metric: &str,
        tag: &str,
    ) -> Result<Option<Vec<u8>>, ModelStoreError> {
        match self {
            ModelStore::Local { root } => {
                let path = file_path(root, batch, metric, tag);
                match tokio::fs::read(&path).await {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(ModelStoreError::Io {
                        path,
                        reason: e.to_string(),
                    }),
                }
            }
            ModelStore::Db { store } => Ok(store.load_model(batch, metric, tag).await?),
        }
    }
}

/// `<root>/<batch>/<metric>_<tag>.json`, with characters that are unsafe in file names
/// percent-encoded (metric names such as `github.a/b:stars` stay one file).
fn file_path(root: &Path, batch: &str, metric: &str, tag: &str) -> PathBuf {
    root.join(safe_name(batch))
        .join(format!("{}_{}.json", safe_name(metric), safe_name(tag)))
}

fn safe_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "%2E");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_characters_cannot_leave_the_batch_folder() {
        assert_eq!(safe_name("github.a/b:stars"), "github.a%2Fb%3Astars");
        assert_eq!(safe_name(".."), "%2E.");
        let p = file_path(Path::new("/m"), "b", "../x", "knn");
        assert_eq!(p, PathBuf::from("/m/b/%2E.%2Fx_knn.json"));
    }
}
