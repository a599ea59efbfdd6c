//! Where trained models live: `local://<dir>` (files `<dir>/<batch>/<metric>_<tag>.json`,
//! the original's layout with our portable format instead of pickle), `db://` (the app
//! database's `models` table), or object storage with the same layout under a prefix:
//! `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` (`object.rs`).

#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
mod object;

use std::path::{Path, PathBuf};

use crate::config::ObjectStoreSettings;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ModelStoreError {
    #[error("model_path `{path}`: {reason}")]
    Unsupported { path: String, reason: String },
    #[error("model store {url}: {reason}")]
    Object { url: String, reason: String },
    #[error("model file {}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub enum ModelStore {
    Local {
        root: PathBuf,
    },
    Db {
        store: Store,
    },
    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    Object(object::ObjectModels),
}

impl ModelStore {
    /// The store a batch's `model_path` names.
    #[cfg_attr(
        not(any(feature = "s3", feature = "gcs", feature = "azure")),
        allow(unused_variables)
    )]
    pub fn from_path(
        model_path: &str,
        store: &Store,
        clouds: &ObjectStoreSettings,
    ) -> Result<Self, ModelStoreError> {
        if let Some(dir) = model_path.strip_prefix("local://") {
            return Ok(ModelStore::Local {
                root: PathBuf::from(if dir.is_empty() { "." } else { dir }),
            });
        }
        if model_path.starts_with("db://") {
            return Ok(ModelStore::Db {
                store: store.clone(),
            });
        }
        let unsupported = |reason: &str| ModelStoreError::Unsupported {
            path: model_path.to_owned(),
            reason: reason.to_owned(),
        };
        let scheme = model_path.split("://").next().unwrap_or_default();
        match scheme {
            #[cfg(feature = "s3")]
            "s3" | "s3a" => {
                object::ObjectModels::s3(model_path, &clouds.s3).map(ModelStore::Object)
            }
            #[cfg(feature = "gcs")]
            "gs" | "gcs" => object::ObjectModels::gcs(model_path, clouds.gcs_credentials.as_ref())
                .map(ModelStore::Object),
            #[cfg(feature = "azure")]
            "az" | "azure" | "abfs" | "abfss" => {
                object::ObjectModels::azure(model_path, &clouds.azure).map(ModelStore::Object)
            }
            _ => Err(unsupported(
                crate::config::model_store_unavailable(model_path).unwrap_or(
                "expected local://<dir>, db://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix",
            ))),
        }
    }

    /// The models stored for a batch, as `<metric>_<tag>` names, sorted.
    pub async fn list(&self, batch: &str) -> Result<Vec<String>, ModelStoreError> {
        let mut names = match self {
            ModelStore::Local { root } => {
                let dir = root.join(safe_name(batch));
                let mut names = Vec::new();
                let mut entries = match tokio::fs::read_dir(&dir).await {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
                    Err(e) => {
                        return Err(ModelStoreError::Io {
                            path: dir,
                            reason: e.to_string(),
                        });
                    }
                };
                while let Some(entry) =
                    entries
                        .next_entry()
                        .await
                        .map_err(|e| ModelStoreError::Io {
                            path: dir.clone(),
                            reason: e.to_string(),
                        })?
                {
                    if let Some(name) = entry.file_name().to_str().and_then(model_name) {
                        names.push(name);
                    }
                }
                names
            }
            ModelStore::Db { store } => store
                .list_models(batch)
                .await?
                .into_iter()
                .map(|(metric, tag)| format!("{metric}_{tag}"))
                .collect(),
            #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
            ModelStore::Object(models) => models.list(batch).await?,
        };
        names.sort();
        Ok(names)
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
            #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
            ModelStore::Object(models) => models.save(&object_key(batch, metric, tag), body).await,
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
            #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
            ModelStore::Object(models) => models.load(&object_key(batch, metric, tag)).await,
        }
    }
}

/// `<root>/<batch>/<metric>_<tag>.json`, with characters that are unsafe in file names
/// percent-encoded (metric names such as `github.a/b:stars` stay one file).
fn file_path(root: &Path, batch: &str, metric: &str, tag: &str) -> PathBuf {
    root.join(safe_name(batch))
        .join(format!("{}_{}.json", safe_name(metric), safe_name(tag)))
}

/// `<batch>/<metric>_<tag>.json` relative to a store's prefix; `object_store` percent-encodes
/// each part itself (a `/` in a metric name stays inside its part).
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn object_key(batch: &str, metric: &str, tag: &str) -> [String; 2] {
    [batch.to_owned(), format!("{metric}_{tag}.json")]
}

/// A stored file's model name (`<metric>_<tag>`), unescaped; `None` for other files.
fn model_name(file: &str) -> Option<String> {
    crate::http::percent_decode(file.strip_suffix(".json")?)
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
        assert_eq!(model_name("%2E.%2Fx_knn.json").as_deref(), Some("../x_knn"));
        assert_eq!(model_name("x_knn.json.tmp"), None);
    }
}
