//! Process-wide handles to the systems batches reach outside the app database: the `db`
//! engines their SQL runs on and the object stores their models live in. Built once from the
//! settings and shared by jobs and pages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::{ObjectStoreSettings, Settings};
use crate::model_store::{ModelStore, ModelStoreError};
use crate::sources::Sources;
use crate::store::Store;

#[derive(Clone, Default)]
pub struct Connectors {
    pub sources: Sources,
    pub object_stores: Arc<ObjectStoreSettings>,
    /// Object-store clients by `model_path`, kept so their connections and access tokens
    /// outlive one job.
    built_stores: Arc<Mutex<HashMap<String, ModelStore>>>,
}

impl Connectors {
    pub fn new(sources: Sources, object_stores: ObjectStoreSettings) -> Self {
        Self {
            sources,
            object_stores: Arc::new(object_stores),
            built_stores: Arc::default(),
        }
    }

    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(
            Sources::new(settings.sources.clone()),
            settings.object_stores.clone(),
        )
    }

    /// The model store a batch's `model_path` names.
    pub fn model_store(
        &self,
        model_path: &str,
        store: &Store,
    ) -> Result<ModelStore, ModelStoreError> {
        if model_path.starts_with("local://") || model_path.starts_with("db://") {
            return ModelStore::from_path(model_path, store, &self.object_stores);
        }
        let mut built = self
            .built_stores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(existing) = built.get(model_path) {
            return Ok(existing.clone());
        }
        let fresh = ModelStore::from_path(model_path, store, &self.object_stores)?;
        built.insert(model_path.to_owned(), fresh.clone());
        Ok(fresh)
    }
}
