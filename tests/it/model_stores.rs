//! Model stores in object storage against emulators on 127.0.0.1: S3 (moto), Azure Blob
//! (Azurite) and GCS (gcp-storage-emulator behind a proxy that adds what object_store needs;
//! see `tests/support/services.rs`). Each saves and loads models and reports a missing
//! one as missing; S3 also carries a whole train → score run.

use anomstack::config::{
    AzureSettings, DatabaseLocation, GoogleCredentials, ObjectStoreSettings, S3Settings, Secret,
};
use anomstack::model_store::ModelStore;
use anomstack::store::Store;

use crate::store_local::model_store_round_trip as round_trip;
use crate::support::services::{Azurite, GcsEmulator, Moto};

async fn app_store(dir: &tempfile::TempDir) -> Store {
    Store::open(&DatabaseLocation::Local {
        path: dir.path().join("app.db"),
    })
    .await
    .unwrap()
}

fn s3(moto: &Moto) -> ObjectStoreSettings {
    ObjectStoreSettings {
        s3: S3Settings {
            access_key_id: Some(moto.access_key_id.clone()),
            secret_access_key: Some(Secret::new(moto.secret_access_key.clone())),
            region: Some(moto.region.clone()),
            endpoint: Some(moto.endpoint()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn s3_compatible_stores_keep_models_under_a_prefix() {
    let moto = Moto::start().await;
    moto.create_bucket("models").await;
    round_trip("s3://models/prod/anomstack", &s3(&moto)).await;
    assert!(
        moto.get_object("models", "prod/anomstack/sales/revenue_pca.json")
            .await
            .is_some(),
        "the original's layout: <prefix>/<batch>/<metric>_<tag>"
    );
    // A bucket that does not exist is an error naming the store, not "no model".
    let dir = tempfile::tempdir().unwrap();
    let store = app_store(&dir).await;
    let missing = ModelStore::from_path("s3://no-such-bucket/x", &store, &s3(&moto)).unwrap();
    let err = missing
        .save("b", "m", "t", b"{}")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("s3://no-such-bucket/x"), "{err}");
    assert!(!err.contains(&moto.secret_access_key) || moto.secret_access_key == "test");
}

#[tokio::test]
async fn azure_blob_containers_keep_models() {
    let azurite = Azurite::start().await;
    azurite.create_container("models").await;
    let clouds = ObjectStoreSettings {
        azure: AzureSettings {
            account: Some(azurite.account.clone()),
            key: Some(Secret::new(azurite.key.clone())),
            sas_token: None,
            endpoint: Some(azurite.blob_endpoint()),
        },
        ..Default::default()
    };
    round_trip("az://models/anomstack", &clouds).await;
}

#[tokio::test]
async fn gcs_buckets_keep_models() {
    let gcs = GcsEmulator::start().await;
    let clouds = ObjectStoreSettings {
        gcs_credentials: Some(GoogleCredentials::Inline(Secret::new(
            gcs.service_account_json(),
        ))),
        ..Default::default()
    };
    round_trip(&format!("gs://{}/models", gcs.bucket), &clouds).await;
}

#[tokio::test]
async fn unknown_schemes_say_what_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let store = app_store(&dir).await;
    let err = ModelStore::from_path("ftp://x/y", &store, &ObjectStoreSettings::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("ftp://x/y") && err.contains("s3://"), "{err}");
}
