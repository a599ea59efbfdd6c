//! Where trained models live: `local://<dir>` (files `<dir>/<batch>/<metric>_<tag>.json`,
//! the original's layout with our portable format instead of pickle; names too long or odd
//! for a file name are keyed by a hash, `key.rs`), `db://` (the app
//! database's `models` table), or object storage with the same layout under a prefix:
//! `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` (`object.rs`).

mod key;
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
mod object;

use std::path::{Path, PathBuf};

use crate::config::{ModelPlan, ObjectStoreSettings};
use crate::detect::TrainedModel;
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

/// Why one stored model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelLoadError {
    /// The store could not be read (it may read none).
    #[error(transparent)]
    Store(#[from] ModelStoreError),
    /// The document is not a model this version reads (only this one is unusable).
    #[error("{0}")]
    Format(#[from] crate::detect::DetectError),
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
                // The keyed file replaces one an earlier version kept under another name.
                let legacy = legacy_path(root, batch, metric, tag);
                if legacy != path {
                    let _ = tokio::fs::remove_file(legacy).await;
                }
                Ok(())
            }
            ModelStore::Db { store } => Ok(store.save_model(batch, metric, tag, body).await?),
            #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
            // An earlier version's copy under the raw name is left where it is: deleting it
            // would cost a request per save, and the keyed object is found first.
            ModelStore::Object(models) => models.save(&object_key(batch, metric, tag), body).await,
        }
    }

    /// The trained models of `metric`, one per plan in plan order (`None`: not trained yet).
    /// What the score job scores with and the metric page describes.
    pub async fn trained<'p>(
        &self,
        batch: &str,
        metric: &str,
        plans: &'p [ModelPlan],
    ) -> Vec<(&'p ModelPlan, Result<Option<TrainedModel>, ModelLoadError>)> {
        let mut out = Vec::with_capacity(plans.len());
        for plan in plans {
            let model = match self.load(batch, metric, &plan.tag).await {
                Ok(None) => Ok(None),
                Ok(Some(bytes)) => TrainedModel::from_json(&bytes)
                    .map(Some)
                    .map_err(ModelLoadError::from),
                Err(e) => Err(e.into()),
            };
            out.push((plan, model));
        }
        out
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
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        // Trained by an earlier version: its name, if the system could hold
                        // it, is the only place the model can be.
                        let legacy = legacy_path(root, batch, metric, tag);
                        if legacy == path {
                            return Ok(None);
                        }
                        Ok(tokio::fs::read(legacy).await.ok())
                    }
                    Err(e) => Err(ModelStoreError::Io {
                        path,
                        reason: e.to_string(),
                    }),
                }
            }
            ModelStore::Db { store } => Ok(store.load_model(batch, metric, tag).await?),
            #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
            ModelStore::Object(models) => {
                let key = object_key(batch, metric, tag);
                match models.load(&key).await? {
                    Some(body) => Ok(Some(body)),
                    None => {
                        // A raw name with `~` could be another metric's hashed key: only names
                        // that cannot be one have an earlier copy to look for.
                        let legacy = object_legacy_key(batch, metric, tag);
                        if legacy == key || metric.contains('~') || tag.contains('~') {
                            return Ok(None);
                        }
                        Ok(models.load(&legacy).await.ok().flatten())
                    }
                }
            }
        }
    }
}

/// `<root>/<batch>/<metric>_<tag>.json`, each part a key (`key.rs`).
fn file_path(root: &Path, batch: &str, metric: &str, tag: &str) -> PathBuf {
    root.join(key::part(batch))
        .join(key::file_name(metric, tag))
}

fn legacy_path(root: &Path, batch: &str, metric: &str, tag: &str) -> PathBuf {
    let [dir, file] = key::legacy_file(batch, metric, tag);
    root.join(dir).join(file)
}

/// `<batch>/<metric>_<tag>.json` relative to a store's prefix, with the file store's keys.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn object_key(batch: &str, metric: &str, tag: &str) -> [String; 2] {
    [key::part(batch), key::file_name(metric, tag)]
}

/// Earlier versions named objects with the raw names (`object_store` percent-encodes them).
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn object_legacy_key(batch: &str, metric: &str, tag: &str) -> [String; 2] {
    [batch.to_owned(), format!("{metric}_{tag}.json")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_cannot_leave_the_batch_folder() {
        let p = file_path(Path::new("/m"), "b", "../x", "knn");
        assert_eq!(p.parent(), Some(Path::new("/m/b")));
        assert_eq!(
            legacy_path(Path::new("/m"), "b", "../x", "knn"),
            PathBuf::from("/m/b/%2E.%2Fx_knn.json")
        );
        // Plain names keep the layout earlier versions wrote: nothing to migrate.
        assert_eq!(
            file_path(Path::new("/m"), "b", "sales", "knn"),
            legacy_path(Path::new("/m"), "b", "sales", "knn")
        );
    }
}
