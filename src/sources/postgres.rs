//! `db: postgres` and `db: redshift`: the batch's query over the PostgreSQL wire protocol
//! (Redshift speaks it too). The simple query protocol returns every value as the server's own
//! text, so each numeric and temporal type (numeric, money-free decimals, timestamptz...)
//! arrives in a form the ingest job parses; the session runs in UTC so zoned times are
//! comparable. TLS with rustls follows libpq's `sslmode` meanings.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio_postgres::SimpleQueryMessage;

use super::table::{Cell, Table};
use super::{Fetched, Limits, SourceError};
use crate::config::{DbKind, PostgresSettings, SourceSettings, SslMode};

pub async fn fetch(
    batch: &str,
    db: DbKind,
    settings: &SourceSettings,
    limits: Limits,
    sql: &str,
) -> Result<Fetched, SourceError> {
    let (pg, prefix) = match db {
        DbKind::Redshift => (&settings.redshift, "ANOMSTACK_REDSHIFT"),
        _ => (&settings.postgres, "ANOMSTACK_POSTGRES"),
    };
    let engine = db.as_str();
    let Some(pg) = pg else {
        return Err(SourceError::failed(
            batch,
            format!(
                "db `{engine}` needs {prefix}_URL, or {prefix}_HOST with _USER, _PASSWORD and _DATABASE"
            ),
        ));
    };
    let failed = |m: String| SourceError::failed(batch, format!("{engine}: {m}"));
    let client = connect(pg).await.map_err(&failed)?;
    // The server cancels the statement itself at the deadline.
    let timeout_ms = limits.timeout.as_millis();
    client
        .batch_execute(&format!(
            "SET statement_timeout = {timeout_ms}; SET TIME ZONE 'UTC'"
        ))
        .await
        .map_err(|e| failed(server_message(&e)))?;
    let mut messages = std::pin::pin!(
        client
            .simple_query_raw(sql)
            .await
            .map_err(|e| failed(server_message(&e)))?
    );
    let mut table = Table::default();
    while let Some(message) = messages
        .try_next()
        .await
        .map_err(|e| failed(server_message(&e)))?
    {
        add(&mut table, message);
        limits.check_rows(table.rows.len()).map_err(&failed)?;
    }
    table.into_fetched(batch)
}

/// Adds a message to the rows of the last statement that returned any (a script may set
/// things up first).
fn add(table: &mut Table, message: SimpleQueryMessage) {
    match message {
        SimpleQueryMessage::RowDescription(columns) => {
            *table = Table {
                columns: columns.iter().map(|c| c.name().to_owned()).collect(),
                rows: Vec::new(),
            };
        }
        SimpleQueryMessage::Row(row) => {
            if table.columns.is_empty() {
                table.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
            }
            // The server's own text, numbers included: ingest parses values, and names
            // such as `007` stay as written.
            table.rows.push(
                (0..row.len())
                    .map(|i| row.get(i).map_or(Cell::Null, |t| Cell::Text(t.to_owned())))
                    .collect(),
            );
        }
        _ => {}
    }
}

/// The server's own words (`ERROR: relation "x" does not exist`), not just "db error".
fn server_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => e.to_string(),
    }
}

async fn connect(pg: &PostgresSettings) -> Result<tokio_postgres::Client, String> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&pg.host)
        .port(pg.port)
        .user(&pg.user)
        .password(pg.password.expose())
        .dbname(&pg.database)
        .application_name("anomstack")
        .connect_timeout(Duration::from_secs(15))
        .ssl_mode(match pg.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        });
    let where_ = format!("{}:{}", pg.host, pg.port);
    let connect_error = |e: tokio_postgres::Error| {
        let detail = server_message(&e);
        let source = std::error::Error::source(&e)
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        format!(
            "cannot connect to {where_} as {}: {detail}{source}",
            pg.user
        )
    };
    let client = if pg.sslmode == SslMode::Disable {
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(connect_error)?;
        tokio::spawn(drive(connection));
        client
    } else {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(pg)?);
        let (client, connection) = config.connect(tls).await.map_err(connect_error)?;
        tokio::spawn(drive(connection));
        client
    };
    Ok(client)
}

async fn drive<F>(connection: F)
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>>,
{
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "postgres connection closed");
    }
}

fn tls_config(pg: &PostgresSettings) -> Result<ClientConfig, String> {
    crate::http::tls_ready();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    match (pg.sslmode, &pg.root_cert) {
        // As libpq: `require` with a root certificate file verifies against it.
        (SslMode::VerifyFull | SslMode::Require, Some(path)) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Ok(builder.with_root_certificates(roots).with_no_client_auth())
        }
        (SslMode::VerifyFull, None) => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map(|b| b.with_no_client_auth())
                .map_err(|e| format!("cannot load the system's certificates: {e}"))
        }
        // libpq's prefer/require encrypt without checking who answers.
        _ => Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth()),
    }
}

/// Accepts any certificate but still checks the handshake signatures, so the session is
/// encrypted to whoever holds the presented key (libpq's `sslmode=require`).
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
