//! Process-wide handles to the systems batches reach outside the app database: the `db`
//! engines their SQL runs on and the object stores their models live in. Built once from the
//! settings and shared by jobs and pages.

use std::sync::Arc;

use crate::config::{ObjectStoreSettings, Settings};
use crate::sources::Sources;

#[derive(Clone, Default)]
pub struct Connectors {
    pub sources: Sources,
    pub object_stores: Arc<ObjectStoreSettings>,
}

impl Connectors {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            sources: Sources::new(settings.sources.clone()),
            object_stores: Arc::new(settings.object_stores.clone()),
        }
    }
}
