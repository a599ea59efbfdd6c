//! Models in object storage (S3 and S3-compatible stores, Google Cloud Storage, Azure Blob)
//! through the `object_store` crate, under `<prefix>/<batch>/<metric>_<tag>.json`. Credentials
//! come from `ANOMSTACK_*` variables (and the standard ones Fly's Tigris integration sets).

use std::sync::Arc;

use object_store::path::{Path, PathPart};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::ModelStoreError;
#[cfg(feature = "azure")]
use crate::config::AzureSettings;
#[cfg(feature = "gcs")]
use crate::config::GoogleCredentials;
#[cfg(feature = "s3")]
use crate::config::S3Settings;

#[derive(Clone)]
pub struct ObjectModels {
    store: Arc<dyn ObjectStore>,
    prefix: Vec<String>,
    /// `scheme://bucket/prefix`, for messages (never carries credentials).
    url: String,
}

/// `scheme://bucket/some/prefix` → (`bucket`, [`some`, `prefix`]).
fn split_url(url: &str) -> Result<(String, Vec<String>), ModelStoreError> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or_default();
    let mut parts = rest.split('/').filter(|p| !p.is_empty());
    let bucket = parts.next().ok_or_else(|| ModelStoreError::Unsupported {
        path: url.to_owned(),
        reason: "no bucket or container name after the scheme".to_owned(),
    })?;
    Ok((bucket.to_owned(), parts.map(str::to_owned).collect()))
}

impl ObjectModels {
    fn new(url: &str, prefix: Vec<String>, store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            prefix,
            url: url.to_owned(),
        }
    }

    fn error(&self, reason: impl std::fmt::Display) -> ModelStoreError {
        ModelStoreError::Object {
            url: self.url.clone(),
            reason: reason.to_string(),
        }
    }

    #[cfg(feature = "s3")]
    pub fn s3(url: &str, s3: &S3Settings) -> Result<Self, ModelStoreError> {
        use object_store::aws::AmazonS3Builder;
        let (bucket, prefix) = split_url(url)?;
        let mut builder = AmazonS3Builder::new().with_bucket_name(&bucket);
        if let Some(id) = &s3.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &s3.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        if let Some(token) = &s3.session_token {
            builder = builder.with_token(token.expose());
        }
        let region = s3.region.clone().unwrap_or_else(|| {
            // Tigris and R2 sign for `auto`; AWS's default region otherwise.
            if s3.endpoint.is_some() {
                "auto"
            } else {
                "us-east-1"
            }
            .to_owned()
        });
        builder = builder.with_region(region);
        if let Some(endpoint) = &s3.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(s3.virtual_hosted_style);
        }
        let store = builder.build().map_err(|e| ModelStoreError::Object {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self::new(url, prefix, Arc::new(store)))
    }

    #[cfg(feature = "gcs")]
    pub fn gcs(
        url: &str,
        credentials: Option<&GoogleCredentials>,
    ) -> Result<Self, ModelStoreError> {
        use object_store::gcp::GoogleCloudStorageBuilder;
        let (bucket, prefix) = split_url(url)?;
        if let Some(problem) = gcs_key_problem(credentials) {
            return Err(ModelStoreError::Object {
                url: url.to_owned(),
                reason: problem,
            });
        }
        let mut builder = GoogleCloudStorageBuilder::new().with_bucket_name(&bucket);
        // A key may name its own endpoint (`gcs_base_url`: a private gateway, an emulator);
        // plain HTTP is allowed only when that endpoint says so.
        if gcs_base_url(credentials).is_some_and(|u| u.starts_with("http://")) {
            builder = builder
                .with_client_options(object_store::ClientOptions::new().with_allow_http(true));
        }
        builder = match credentials {
            Some(GoogleCredentials::Inline(json)) => {
                builder.with_service_account_key(json.expose())
            }
            Some(GoogleCredentials::File(path)) => {
                builder.with_service_account_path(path.to_string_lossy())
            }
            // Application default credentials (a GCE/Cloud Run metadata server, gcloud's file).
            None => builder,
        };
        let store = builder.build().map_err(|e| ModelStoreError::Object {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self::new(url, prefix, Arc::new(store)))
    }

    #[cfg(feature = "azure")]
    pub fn azure(url: &str, azure: &AzureSettings) -> Result<Self, ModelStoreError> {
        use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
        let (container, prefix) = split_url(url)?;
        let mut builder = MicrosoftAzureBuilder::new().with_container_name(&container);
        if let Some(account) = &azure.account {
            builder = builder.with_account(account);
        }
        if let Some(key) = &azure.key {
            builder = builder.with_access_key(key.expose());
        } else if let Some(sas) = &azure.sas_token {
            builder =
                builder.with_config(AzureConfigKey::SasKey, sas.expose().trim_start_matches('?'));
        }
        if let Some(endpoint) = &azure.endpoint {
            builder = builder
                .with_endpoint(endpoint.clone())
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder.build().map_err(|e| ModelStoreError::Object {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self::new(url, prefix, Arc::new(store)))
    }

    fn path<'a>(&'a self, tail: impl IntoIterator<Item = &'a str>) -> Path {
        self.prefix
            .iter()
            .map(String::as_str)
            .chain(tail)
            .map(PathPart::from)
            .collect()
    }

    pub async fn save(&self, key: &[String; 2], body: &[u8]) -> Result<(), ModelStoreError> {
        let path = self.path(key.iter().map(String::as_str));
        // A PUT replaces the object whole: readers see the old model or the new one.
        self.store
            .put(&path, PutPayload::from(body.to_vec()))
            .await
            .map_err(|e| self.error(format!("cannot save {path}: {e}")))?;
        Ok(())
    }

    pub async fn load(&self, key: &[String; 2]) -> Result<Option<Vec<u8>>, ModelStoreError> {
        let path = self.path(key.iter().map(String::as_str));
        match self.store.get(&path).await {
            Ok(result) => result
                .bytes()
                .await
                .map(|b| Some(b.to_vec()))
                .map_err(|e| self.error(format!("cannot read {path}: {e}"))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(format!("cannot read {path}: {e}"))),
        }
    }
}

/// Why a service-account key is unusable, without quoting it (a parser's message may repeat
/// the value, private key included).
#[cfg(feature = "gcs")]
fn gcs_key_problem(credentials: Option<&GoogleCredentials>) -> Option<String> {
    let (json, origin) = match credentials? {
        GoogleCredentials::Inline(json) => (
            json.expose().to_owned(),
            "ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS_JSON".to_owned(),
        ),
        GoogleCredentials::File(path) => match std::fs::read_to_string(path) {
            Ok(text) => (text, path.display().to_string()),
            Err(e) => return Some(format!("cannot read {}: {e}", path.display())),
        },
    };
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&json) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "{origin} is not a service account key ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        )),
    }
}

/// The `gcs_base_url` a service-account key sets, if any.
#[cfg(feature = "gcs")]
fn gcs_base_url(credentials: Option<&GoogleCredentials>) -> Option<String> {
    let json = match credentials? {
        GoogleCredentials::Inline(json) => json.expose().to_owned(),
        GoogleCredentials::File(path) => std::fs::read_to_string(path).ok()?,
    };
    let value: serde_json::Value = serde_json::from_str(&json).ok()?;
    value["gcs_base_url"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_bucket_and_prefix() {
        assert_eq!(
            split_url("s3://models/prod/anomstack/").unwrap(),
            (
                "models".to_owned(),
                vec!["prod".to_owned(), "anomstack".to_owned()]
            )
        );
        assert_eq!(split_url("gs://b").unwrap(), ("b".to_owned(), vec![]));
        assert!(split_url("s3://").is_err());
    }
}
