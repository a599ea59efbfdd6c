//! Real servers on 127.0.0.1 for the data-source and model-store integration tests. Each runs in
//! a temporary folder of its own, on free ports, and is killed with everything it forked when its
//! handle drops. `scripts/install_test_deps.sh` installs all of them.
//!
//! - [`Postgres`]: Debian's PostgreSQL (initdb, then postgres), password (SCRAM) logins over TCP,
//!   optionally TLS with a certificate made by the openssl CLI. Postgres refuses to run as root,
//!   and the tests run as root here and in CI, so then it runs as the `postgres` system user.
//! - [`ClickHouse`]: Debian's clickhouse-server (18.16, old SQL only), with a config of our own
//!   that keeps every path in the temporary folder; set up through its HTTP interface.
//! - [`Moto`]: moto's server (tests/.venv) standing in for S3; it takes unsigned requests too.
//! - [`Azurite`]: Microsoft's blob emulator (npm, tests/services), its telemetry off; containers
//!   and blobs are made with SharedKey-signed requests, as a real client makes them.
//! - [`GcsEmulator`]: gcp-storage-emulator (tests/.venv) serves the GCS JSON API, but
//!   object_store's GCS client speaks the XML API (PUT/GET/HEAD/DELETE /bucket/object, a
//!   `list-type=2` listing, multipart uploads, copies) and needs the ETag and Last-Modified headers
//!   that the emulator leaves out. A proxy in this process translates; it runs on a runtime of its
//!   own in a thread of its own, so it serves whatever the test's runtime is doing.
//!
//! Every `start()` is async, like the tests. A server that is not ready within `READY_TIMEOUT`
//! panics with the tail of its log; one that exits while starting (a port taken meanwhile) is
//! started again on other ports, twice at most.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// Generous: on a fresh clone of a 2-core CI machine, with the page cache cold and other tests
/// busy, node needed more than 30 s just to load Azurite's modules (1.4 s when warm).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const START_ATTEMPTS: usize = 3;
const LOCALHOST: &str = "127.0.0.1";

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// A PostgreSQL server with a password-protected superuser `user` and an empty `database`.
pub struct Postgres {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    /// PEM file of the CA that signed the server's certificate (for `localhost` and 127.0.0.1);
    /// set by [`Postgres::start_with_tls`].
    pub ca_cert: Option<PathBuf>,
    bin: PathBuf,
    // Dropped in this order: the server, then its folder.
    server: Server,
    dir: TempDir,
}

impl Postgres {
    pub async fn start() -> Postgres {
        Self::launch(false).await
    }

    /// Also serves TLS (`ssl=on`) with a certificate signed by [`Postgres::ca_cert`]; plain
    /// connections are still accepted.
    pub async fn start_with_tls() -> Postgres {
        Self::launch(true).await
    }

    async fn launch(tls: bool) -> Postgres {
        let bin = postgres_bin_dir();
        // Postgres refuses to run as root: then the `postgres` system user runs it, in a folder
        // of /tmp (which it can reach) that it owns.
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(system_user("postgres").unwrap_or_else(|| {
                panic!(
                    "the tests run as root and postgres needs the `postgres` system user \
                     (scripts/install_test_deps.sh installs postgresql, which creates it)"
                )
            }))
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("anomstack-postgres-")
            .tempdir_in(if run_as.is_some() {
                PathBuf::from("/tmp")
            } else {
                std::env::temp_dir()
            })
            .expect("temp dir");
        let (user, password, database) = ("anomstack", "test-password", "anomstack_test");
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, password).expect("write pwfile");
        if let Some((uid, gid)) = run_as {
            for path in [dir.path(), &pwfile] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let data = dir.path().join("data");
        let mut initdb = as_user(run_as, &bin.join("initdb"));
        initdb
            .current_dir(dir.path())
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                user,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ])
            .args(["--auth-host=scram-sha-256", "--auth-local=trust"])
            .arg(format!("--pwfile={}", pwfile.display()));
        let output = tokio::process::Command::from(initdb)
            .output()
            .await
            .unwrap_or_else(|e| missing("initdb (PostgreSQL)", &bin.join("initdb"), e));
        assert!(
            output.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let ca_cert = if tls {
            Some(make_certificates(dir.path(), run_as).await)
        } else {
            None
        };

        let mut attempt = 0;
        let (server, port) = loop {
            attempt += 1;
            let port = free_port();
            let mut command = as_user(run_as, &bin.join("postgres"));
            command.current_dir(dir.path()).arg("-D").arg(&data);
            let settings = [
                format!("listen_addresses={LOCALHOST}"),
                format!("port={port}"),
                format!("unix_socket_directories={}", dir.path().display()),
                "fsync=off".into(),
                "synchronous_commit=off".into(),
                "full_page_writes=off".into(),
                "shared_buffers=16MB".into(),
                "max_connections=50".into(),
            ];
            for setting in settings {
                command.arg("-c").arg(setting);
            }
            if tls {
                let d = dir.path().display();
                for setting in [
                    "ssl=on".to_string(),
                    format!("ssl_cert_file={d}/server.crt"),
                    format!("ssl_key_file={d}/server.key"),
                ] {
                    command.arg("-c").arg(setting);
                }
            }
            let mut server = Server::spawn(
                "postgres",
                command,
                dir.path().join(format!("postgres-{attempt}.log")),
                Some(libc::SIGQUIT),
            );
            let isready = bin.join("pg_isready");
            let ready = server
                .wait_ready(|| {
                    let isready = isready.clone();
                    async move {
                        tokio::process::Command::new(&isready)
                            .args(["-q", "-h", LOCALHOST, "-d", "postgres", "-U", user])
                            .arg("-p")
                            .arg(port.to_string())
                            .status()
                            .await
                            .is_ok_and(|s| s.success())
                    }
                })
                .await;
            match ready {
                Ok(()) => break (server, port),
                Err(log) if attempt >= START_ATTEMPTS => panic!("postgres exited:\n{log}"),
                Err(_) => {} // perhaps a port taken meanwhile: other ports
            }
        };
        let postgres = Postgres {
            host: LOCALHOST.into(),
            port,
            user: user.into(),
            password: password.into(),
            database: database.into(),
            ca_cert,
            bin,
            server,
            dir,
        };
        postgres
            .psql("postgres", &format!("CREATE DATABASE {database}"))
            .await;
        postgres
    }

    /// `postgres://user:password@127.0.0.1:port/database`
    pub fn url(&self) -> String {
        format!(
            "postgres://{}:{}@{}:{}/{}",
            self.user, self.password, self.host, self.port, self.database
        )
    }

    /// Runs SQL (any number of statements) in the database with psql; panics on an error.
    /// Returns the rows of the last statement, one a line, columns separated by `|`.
    pub async fn exec(&self, sql: &str) -> String {
        self.psql(&self.database, sql).await
    }

    /// The folder the server runs in (its data in `data/`, its log in `postgres-1.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    async fn psql(&self, database: &str, sql: &str) -> String {
        use tokio::io::AsyncWriteExt;
        let psql = self.bin.join("psql");
        let mut child = tokio::process::Command::new(&psql)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .args(["-h", &self.host, "-U", &self.user, "-d", database])
            .arg("-p")
            .arg(self.port.to_string())
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| missing("psql (postgresql-client)", &psql, e));
        let mut stdin = child.stdin.take().expect("psql stdin");
        stdin
            .write_all(sql.as_bytes())
            .await
            .expect("write SQL to psql");
        drop(stdin);
        let output = child.wait_with_output().await.expect("psql");
        assert!(
            output.status.success(),
            "psql failed on {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_string()
    }
}

/// The bin folder of Debian's newest PostgreSQL, else the folder of `postgres` on the PATH.
fn postgres_bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    match find_on_path("postgres") {
        Some(postgres) => postgres.parent().expect("bin folder").to_path_buf(),
        None => panic!(
            "PostgreSQL is missing: no /usr/lib/postgresql/*/bin/postgres nor postgres on the PATH \
             (scripts/install_test_deps.sh installs it)"
        ),
    }
}

/// A CA and a server certificate it signed (for localhost and 127.0.0.1), made with the openssl
/// CLI: `ca.crt`, `server.crt` and `server.key` in `dir`. Returns the CA's path.
async fn make_certificates(dir: &Path, run_as: Option<(u32, u32)>) -> PathBuf {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let extensions = "basicConstraints=critical,CA:FALSE\n\
                      keyUsage=critical,digitalSignature,keyEncipherment\n\
                      extendedKeyUsage=serverAuth\n\
                      subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    std::fs::write(dir.join("server.ext"), extensions).expect("write server.ext");
    let steps: [&[&str]; 3] = [
        &[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.crt", "-days", "2"],
        ]
        .concat(),
        &[
            &["req"],
            &ec[..],
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "2",
            "-out",
            "server.crt",
            "-extfile",
            "server.ext",
        ],
    ];
    for (i, args) in steps.iter().enumerate() {
        let subject = ["/CN=anomstack test CA", "/CN=localhost", ""][i];
        let mut command = tokio::process::Command::new("openssl");
        command.current_dir(dir).args(*args);
        if !subject.is_empty() {
            command.args(["-subj", subject]);
        }
        let output = command
            .output()
            .await
            .unwrap_or_else(|e| missing("openssl", Path::new("openssl"), e));
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let key = dir.join("server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
    if let Some((uid, gid)) = run_as {
        for file in ["server.key", "server.crt", "ca.crt"] {
            std::os::unix::fs::chown(dir.join(file), Some(uid), Some(gid)).expect("chown");
        }
    }
    dir.join("ca.crt")
}

// ---------------------------------------------------------------------------------------------
// ClickHouse

/// A ClickHouse server; user `default` with `password`.
pub struct ClickHouse {
    pub http_port: u16,
    pub tcp_port: u16,
    pub user: String,
    pub password: String,
    server: Server,
    dir: TempDir,
}

impl ClickHouse {
    pub async fn start() -> ClickHouse {
        let program = find_on_path("clickhouse-server")
            .or_else(|| Some(PathBuf::from("/usr/sbin/clickhouse-server")).filter(|p| p.exists()))
            .unwrap_or_else(|| {
                panic!("clickhouse-server is missing (scripts/install_test_deps.sh installs it)")
            });
        let dir = tempfile::Builder::new()
            .prefix("anomstack-clickhouse-")
            .tempdir()
            .expect("temp dir");
        let password = "test-password";
        let users = format!(
            r#"<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <quotas><default></default></quotas>
    <users>
        <default>
            <password>{password}</password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
</yandex>
"#
        );
        std::fs::write(dir.path().join("users.xml"), users).expect("write users.xml");
        let client = http_client();
        let mut attempt = 0;
        let (server, http_port, tcp_port) = loop {
            attempt += 1;
            let (http_port, tcp_port) = (free_port(), free_port());
            let d = dir.path().display();
            let config = format!(
                r#"<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>{d}/log/clickhouse-server.log</log>
        <errorlog>{d}/log/clickhouse-server.err.log</errorlog>
        <console>0</console>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <user_files_path>{d}/user_files/</user_files_path>
    <format_schema_path>{d}/format_schemas/</format_schema_path>
    <users_config>{d}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>67108864</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mlock_executable>false</mlock_executable>
</yandex>
"#
            );
            let config_file = dir.path().join("config.xml");
            std::fs::write(&config_file, config).expect("write config.xml");
            let mut command = Command::new(&program);
            command
                .current_dir(dir.path())
                .arg(format!("--config-file={}", config_file.display()));
            let mut server = Server::spawn(
                "clickhouse-server",
                command,
                dir.path().join(format!("stdout-{attempt}.log")),
                None,
            );
            server.also_log(dir.path().join("log/clickhouse-server.err.log"));
            let ping = format!("http://{LOCALHOST}:{http_port}/ping");
            let ready = server
                .wait_ready(|| {
                    let request = client.get(&ping).send();
                    async move {
                        match request.await {
                            Ok(response) => response.text().await.is_ok_and(|t| t == "Ok.\n"),
                            Err(_) => false,
                        }
                    }
                })
                .await;
            match ready {
                Ok(()) => break (server, http_port, tcp_port),
                Err(log) if attempt >= START_ATTEMPTS => panic!("clickhouse-server exited:\n{log}"),
                Err(_) => {} // perhaps a port taken meanwhile: other ports
            }
        };
        ClickHouse {
            http_port,
            tcp_port,
            user: "default".into(),
            password: password.into(),
            server,
            dir,
        }
    }

    /// `http://127.0.0.1:port`
    pub fn url(&self) -> String {
        format!("http://{LOCALHOST}:{}", self.http_port)
    }

    /// Runs one statement through the HTTP interface (POST body, basic auth); panics unless the
    /// answer is 200. Returns the answer's body (TabSeparated unless the SQL says `FORMAT`).
    pub async fn query(&self, sql: &str) -> String {
        let response = http_client()
            .post(format!("{}/", self.url()))
            .basic_auth(&self.user, Some(&self.password))
            .body(sql.to_string())
            .send()
            .await
            .expect("ClickHouse answers");
        let status = response.status();
        let body = response.text().await.expect("ClickHouse body");
        assert!(
            status.is_success(),
            "ClickHouse {status} on {sql:?}: {body}"
        );
        body
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

// ---------------------------------------------------------------------------------------------
// Moto (S3)

/// moto's S3; any credentials are accepted, region us-east-1, path-style URLs.
pub struct Moto {
    pub port: u16,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    server: Server,
    dir: TempDir,
}

impl Moto {
    pub async fn start() -> Moto {
        let program = repo_path("tests/.venv/bin/moto_server");
        let dir = tempfile::Builder::new()
            .prefix("anomstack-moto-")
            .tempdir()
            .expect("temp dir");
        let client = http_client();
        let mut attempt = 0;
        let (server, port) = loop {
            attempt += 1;
            let port = free_port();
            let mut command = Command::new(&program);
            command
                .current_dir(dir.path())
                .env("PYTHONUNBUFFERED", "1")
                .args(["-H", LOCALHOST, "-p", &port.to_string()]);
            let mut server = Server::spawn(
                "moto_server",
                command,
                dir.path().join(format!("moto-{attempt}.log")),
                None,
            );
            let url = format!("http://{LOCALHOST}:{port}/moto-api/");
            let ready = server.wait_ready(|| answers(&client, &url)).await;
            match ready {
                Ok(()) => break (server, port),
                Err(log) if attempt >= START_ATTEMPTS => panic!("moto_server exited:\n{log}"),
                Err(_) => {} // perhaps a port taken meanwhile: other ports
            }
        };
        Moto {
            port,
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            region: "us-east-1".into(),
            server,
            dir,
        }
    }

    /// `http://127.0.0.1:port`
    pub fn endpoint(&self) -> String {
        format!("http://{LOCALHOST}:{}", self.port)
    }

    pub async fn create_bucket(&self, name: &str) {
        let response = self
            .request(Method::PUT, name)
            .send()
            .await
            .expect("moto answers");
        let status = response.status();
        assert!(
            status.is_success(),
            "creating bucket {name}: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }

    pub async fn put_object(&self, bucket: &str, key: &str, body: impl Into<Bytes>) {
        let response = self
            .request(Method::PUT, &format!("{bucket}/{key}"))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(body.into())
            .send()
            .await
            .expect("moto answers");
        let status = response.status();
        assert!(
            status.is_success(),
            "putting {bucket}/{key}: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// An object's bytes, or None if there is no such object.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Option<Bytes> {
        let response = self
            .request(Method::GET, &format!("{bucket}/{key}"))
            .send()
            .await
            .expect("moto answers");
        match response.status() {
            StatusCode::NOT_FOUND => None,
            status if status.is_success() => Some(response.bytes().await.expect("body")),
            status => panic!("getting {bucket}/{key}: {status}"),
        }
    }

    /// A request to `endpoint()/path` (`path` not percent-encoded). moto checks no signature,
    /// but it refuses anonymous reads, and reads the body of a PUT that has no Content-Type as a
    /// form (storing nothing): so this sends an Authorization header of the right shape, and a
    /// body needs a Content-Type.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let credential = format!(
            "{}/20240101/{}/s3/aws4_request",
            self.access_key_id, self.region
        );
        http_client()
            .request(
                method,
                format!("{}/{}", self.endpoint(), pct_encode(path, true)),
            )
            .header(
                header::AUTHORIZATION,
                format!(
                    "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=0"
                ),
            )
    }
}

// ---------------------------------------------------------------------------------------------
// Azurite (Azure Blob Storage)

/// Azurite's blob service with the well-known development account.
pub struct Azurite {
    pub port: u16,
    /// `devstoreaccount1`
    pub account: String,
    /// The development account's well-known key (base64).
    pub key: String,
    server: Server,
    dir: TempDir,
}

impl Azurite {
    pub const ACCOUNT: &str = "devstoreaccount1";
    pub const KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    pub async fn start() -> Azurite {
        let script = repo_path("tests/services/node_modules/.bin/azurite-blob");
        let dir = tempfile::Builder::new()
            .prefix("anomstack-azurite-")
            .tempdir()
            .expect("temp dir");
        let client = http_client();
        let mut attempt = 0;
        let (server, port) = loop {
            attempt += 1;
            let port = free_port();
            let mut command = Command::new("node");
            command
                .current_dir(dir.path())
                .arg(&script)
                .args(["--blobHost", LOCALHOST, "--blobPort", &port.to_string()])
                .arg("--location")
                .arg(dir.path().join("data"))
                .args(["--skipApiVersionCheck", "--disableTelemetry", "--silent"]);
            let mut server = Server::spawn(
                "node (for azurite)",
                command,
                dir.path().join(format!("azurite-{attempt}.log")),
                None,
            );
            let url = format!("http://{LOCALHOST}:{port}/{}?comp=list", Self::ACCOUNT);
            let ready = server.wait_ready(|| answers(&client, &url)).await;
            match ready {
                Ok(()) => break (server, port),
                Err(log) if attempt >= START_ATTEMPTS => panic!("azurite exited:\n{log}"),
                Err(_) => {} // perhaps a port taken meanwhile: other ports
            }
        };
        Azurite {
            port,
            account: Self::ACCOUNT.into(),
            key: Self::KEY.into(),
            server,
            dir,
        }
    }

    /// `http://127.0.0.1:port/devstoreaccount1`
    pub fn blob_endpoint(&self) -> String {
        format!("http://{LOCALHOST}:{}/{}", self.port, self.account)
    }

    pub async fn create_container(&self, name: &str) {
        let response = self
            .request(
                Method::PUT,
                name,
                &[("restype", "container")],
                &[],
                Bytes::new(),
            )
            .await;
        let status = response.status();
        assert!(
            status.is_success(),
            "creating container {name}: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Uploads a block blob `container/name`.
    pub async fn put_blob(&self, container: &str, name: &str, body: impl Into<Bytes>) {
        let path = format!("{container}/{name}");
        let headers = [("x-ms-blob-type", "BlockBlob")];
        let response = self
            .request(Method::PUT, &path, &[], &headers, body.into())
            .await;
        let status = response.status();
        assert!(
            status.is_success(),
            "putting blob {path}: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// A SharedKey-signed request to `blob_endpoint()/path?query`; `path` is neither
    /// percent-encoded nor starts with `/`, `headers` are `x-ms-*` (others are not signed).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> reqwest::Response {
        let date = http_date(unix_now());
        let mut ms_headers: BTreeMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        ms_headers.insert("x-ms-date".into(), date);
        ms_headers.insert("x-ms-version".into(), "2021-08-06".into());
        let path = format!("/{}/{}", self.account, pct_encode(path, true));
        let length = if body.is_empty() {
            String::new()
        } else {
            body.len().to_string()
        };
        let mut to_sign = format!("{method}\n\n\n{length}\n\n\n\n\n\n\n\n\n");
        for (k, v) in &ms_headers {
            to_sign.push_str(&format!("{k}:{v}\n"));
        }
        to_sign.push_str(&format!("/{}{path}", self.account));
        let mut sorted_query: Vec<_> = query.to_vec();
        sorted_query.sort_unstable();
        for (k, v) in &sorted_query {
            to_sign.push_str(&format!("\n{}:{v}", k.to_ascii_lowercase()));
        }
        let key = BASE64.decode(&self.key).expect("account key is base64");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC key");
        mac.update(to_sign.as_bytes());
        let signature = BASE64.encode(mac.finalize().into_bytes());
        let mut url = format!("http://{LOCALHOST}:{}{path}", self.port);
        for (i, (k, v)) in sorted_query.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            url.push_str(&format!(
                "{sep}{}={}",
                pct_encode(k, false),
                pct_encode(v, false)
            ));
        }
        let mut request = http_client()
            .request(method, url)
            .header(
                header::AUTHORIZATION,
                format!("SharedKey {}:{signature}", self.account),
            )
            .body(body);
        for (k, v) in &ms_headers {
            request = request.header(k.as_str(), v.as_str());
        }
        request.send().await.expect("azurite answers")
    }
}

// ---------------------------------------------------------------------------------------------
// GCS

/// gcp-storage-emulator (in memory) with `bucket` made, behind an XML-API proxy for object_store.
pub struct GcsEmulator {
    pub bucket: String,
    /// The emulator itself (GCS JSON API, no ETags).
    pub emulator_port: u16,
    /// The proxy that object_store talks to.
    pub proxy_port: u16,
    proxy: ProxyThread,
    server: Server,
    dir: TempDir,
}

impl GcsEmulator {
    pub async fn start() -> GcsEmulator {
        let program = repo_path("tests/.venv/bin/gcp-storage-emulator");
        let bucket = "anomstack-test";
        let dir = tempfile::Builder::new()
            .prefix("anomstack-gcs-")
            .tempdir()
            .expect("temp dir");
        let client = http_client();
        let mut attempt = 0;
        let (server, emulator_port) = loop {
            attempt += 1;
            let port = free_port();
            let mut command = Command::new(&program);
            command
                .current_dir(dir.path())
                .env("PYTHONUNBUFFERED", "1")
                .arg("start")
                .arg(format!("--host={LOCALHOST}"))
                .arg(format!("--port={port}"))
                .arg("--in-memory")
                .arg(format!("--default-bucket={bucket}"));
            let mut server = Server::spawn(
                "gcp-storage-emulator",
                command,
                dir.path().join(format!("gcs-{attempt}.log")),
                None,
            );
            let url = format!("http://{LOCALHOST}:{port}/storage/v1/b/{bucket}");
            let ready = server
                .wait_ready(|| {
                    let request = client.get(&url).send();
                    async move { request.await.is_ok_and(|r| r.status().is_success()) }
                })
                .await;
            match ready {
                Ok(()) => break (server, port),
                Err(log) if attempt >= START_ATTEMPTS => {
                    panic!("gcp-storage-emulator exited:\n{log}")
                }
                Err(_) => {} // perhaps a port taken meanwhile: other ports
            }
        };
        let proxy = ProxyThread::start(format!("http://{LOCALHOST}:{emulator_port}"));
        GcsEmulator {
            bucket: bucket.into(),
            emulator_port,
            proxy_port: proxy.port,
            proxy,
            server,
            dir,
        }
    }

    /// The proxy's URL, for object_store's `gcs_base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{LOCALHOST}:{}", self.proxy_port)
    }

    /// A service-account key that points object_store at the proxy, without OAuth.
    pub fn service_account_json(&self) -> String {
        serde_json::json!({
            "gcs_base_url": self.base_url(),
            "disable_oauth": true,
            "client_email": "",
            "private_key": "",
            "private_key_id": "",
        })
        .to_string()
    }

    pub async fn create_bucket(&self, name: &str) {
        let response = http_client()
            .post(format!(
                "http://{LOCALHOST}:{}/storage/v1/b?project=test",
                self.emulator_port
            ))
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .expect("gcp-storage-emulator answers");
        let status = response.status();
        assert!(
            status.is_success(),
            "creating bucket {name}: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }
}

/// The proxy's runtime thread; dropping it stops the runtime and so the proxy.
struct ProxyThread {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProxyThread {
    fn start(upstream: String) -> ProxyThread {
        let listener = std::net::TcpListener::bind((LOCALHOST, 0)).expect("bind the GCS proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("proxy address").port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("gcs-proxy".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    let proxy = Arc::new(GcsProxy {
                        client: http_client(),
                        upstream,
                        uploads: Mutex::new(HashMap::new()),
                        next_upload: AtomicU64::new(1),
                    });
                    let app = axum::Router::new()
                        .fallback(gcs_proxy)
                        .layer(DefaultBodyLimit::disable())
                        .with_state(proxy);
                    tokio::select! {
                        result = axum::serve(listener, app) => result.expect("GCS proxy"),
                        _ = stopped => {}
                    }
                });
            })
            .expect("proxy thread");
        ProxyThread {
            port,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for ProxyThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct GcsProxy {
    client: reqwest::Client,
    upstream: String,
    /// Multipart uploads in progress, by upload id: bucket, object, content type, parts.
    uploads: Mutex<HashMap<String, Upload>>,
    next_upload: AtomicU64,
}

struct Upload {
    bucket: String,
    object: String,
    content_type: Option<String>,
    parts: BTreeMap<u32, Bytes>,
}

/// Object headers that map to fields of the JSON object resource.
const GCS_FIELD_HEADERS: [(&str, &str); 5] = [
    ("content-type", "contentType"),
    ("cache-control", "cacheControl"),
    ("content-disposition", "contentDisposition"),
    ("content-encoding", "contentEncoding"),
    ("content-language", "contentLanguage"),
];
const GCS_META_PREFIX: &str = "x-goog-meta-";

/// Translates object_store's XML-API requests into the emulator's JSON API; anything else (the
/// JSON API itself) goes through unchanged, with an ETag added where the emulator gives none.
async fn gcs_proxy(
    State(proxy): State<Arc<GcsProxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_start_matches('/');
    let (bucket, object) = match path.split_once('/') {
        Some((bucket, object)) => (pct_decode(bucket, false), pct_decode(object, false)),
        None => (pct_decode(path, false), String::new()),
    };
    if matches!(
        bucket.as_str(),
        "" | "storage" | "upload" | "download" | "batch" | "b" | "wipe"
    ) {
        return proxy.forward(method, &uri, &headers, body).await;
    }
    let query = parse_query(uri.query().unwrap_or(""));
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let upload_id = param("uploadId");
    match (&method, object.is_empty()) {
        (&Method::GET, true) => proxy.list(&bucket, &query).await,
        (&Method::POST, false) if param("uploads").is_some() => {
            proxy.start_upload(&bucket, &object, &headers)
        }
        (&Method::PUT, false) if upload_id.is_some() => {
            let part = param("partNumber")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            proxy.put_part(&upload_id.unwrap_or_default(), part, body)
        }
        (&Method::POST, false) if upload_id.is_some() => {
            proxy.complete_upload(&upload_id.unwrap_or_default()).await
        }
        (&Method::DELETE, false) if upload_id.is_some() => {
            let removed = proxy
                .uploads
                .lock()
                .unwrap()
                .remove(&upload_id.unwrap_or_default());
            xml_status(if removed.is_some() {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::NOT_FOUND
            })
        }
        (&Method::PUT, false) if headers.contains_key("x-goog-copy-source") => {
            proxy.copy(&bucket, &object, &headers).await
        }
        (&Method::PUT, false) => proxy.put(&bucket, &object, &headers, body).await,
        (&Method::GET | &Method::HEAD, false) => {
            proxy
                .get(
                    &bucket,
                    &object,
                    &headers,
                    param("generation"),
                    method == Method::HEAD,
                )
                .await
        }
        (&Method::DELETE, false) => {
            let url = proxy.object_url(&bucket, &object);
            match proxy.client.delete(url).send().await {
                Ok(r) if r.status().is_success() => xml_status(StatusCode::NO_CONTENT),
                Ok(r) => xml_status(r.status()),
                Err(e) => bad_gateway(e),
            }
        }
        _ => proxy.forward(method, &uri, &headers, body).await,
    }
}

impl GcsProxy {
    fn object_url(&self, bucket: &str, object: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.upstream,
            pct_encode(bucket, false),
            pct_encode(object, false)
        )
    }

    /// The JSON object resource, or None when there is no such object.
    async fn metadata(
        &self,
        bucket: &str,
        object: &str,
    ) -> Result<Option<serde_json::Value>, Response> {
        let response = self
            .client
            .get(self.object_url(bucket, object))
            .send()
            .await
            .map_err(bad_gateway)?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(response.json().await.map_err(bad_gateway)?)),
            s => Err(xml_status(s)),
        }
    }

    /// `x-goog-if-generation-match`: 0 means "does not exist yet".
    async fn check_generation(
        &self,
        bucket: &str,
        object: &str,
        headers: &HeaderMap,
    ) -> Result<(), Response> {
        let Some(wanted) = headers.get("x-goog-if-generation-match") else {
            return Ok(());
        };
        let wanted = wanted.to_str().unwrap_or_default();
        let current = self.metadata(bucket, object).await?;
        let current = current.as_ref().map(|o| json_str(o, "generation"));
        let ok = match current {
            None => wanted == "0",
            Some(generation) => generation == wanted,
        };
        if ok {
            Ok(())
        } else {
            Err(xml_status(StatusCode::PRECONDITION_FAILED))
        }
    }

    async fn put(&self, bucket: &str, object: &str, headers: &HeaderMap, body: Bytes) -> Response {
        if let Err(response) = self.check_generation(bucket, object, headers).await {
            return response;
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let resource = match self.upload(bucket, object, content_type, body).await {
            Ok(resource) => resource,
            Err(response) => return response,
        };
        let resource = match self.patch(bucket, object, headers, resource).await {
            Ok(resource) => resource,
            Err(response) => return response,
        };
        let mut response = xml_status(StatusCode::OK);
        object_headers(&resource, response.headers_mut());
        response
    }

    async fn upload(
        &self,
        bucket: &str,
        object: &str,
        content_type: Option<String>,
        body: Bytes,
    ) -> Result<serde_json::Value, Response> {
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            self.upstream,
            pct_encode(bucket, false),
            pct_encode(object, false)
        );
        let content_type = content_type.unwrap_or_else(|| "application/octet-stream".into());
        let response = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(bad_gateway)?;
        if !response.status().is_success() {
            return Err(xml_status(response.status()));
        }
        response.json().await.map_err(bad_gateway)
    }

    /// Sets custom metadata and the other attribute headers of a PUT on the object.
    async fn patch(
        &self,
        bucket: &str,
        object: &str,
        headers: &HeaderMap,
        resource: serde_json::Value,
    ) -> Result<serde_json::Value, Response> {
        let mut patch = serde_json::Map::new();
        let mut metadata = serde_json::Map::new();
        for (name, value) in headers {
            let Ok(value) = value.to_str() else { continue };
            if let Some(key) = name.as_str().strip_prefix(GCS_META_PREFIX) {
                metadata.insert(key.into(), value.into());
            } else if let Some((_, field)) = GCS_FIELD_HEADERS[1..]
                .iter()
                .find(|(header, _)| *header == name.as_str())
            {
                patch.insert((*field).into(), value.into());
            }
        }
        if !metadata.is_empty() {
            patch.insert("metadata".into(), metadata.into());
        }
        if patch.is_empty() {
            return Ok(resource);
        }
        let response = self
            .client
            .patch(self.object_url(bucket, object))
            .json(&patch)
            .send()
            .await
            .map_err(bad_gateway)?;
        if !response.status().is_success() {
            return Err(xml_status(response.status()));
        }
        response.json().await.map_err(bad_gateway)
    }

    async fn copy(&self, bucket: &str, object: &str, headers: &HeaderMap) -> Response {
        if let Err(response) = self.check_generation(bucket, object, headers).await {
            return response;
        }
        let source = headers["x-goog-copy-source"].to_str().unwrap_or_default();
        let source = pct_decode(source.trim_start_matches('/'), false);
        let Some((source_bucket, source_object)) = source.split_once('/') else {
            return xml_status(StatusCode::BAD_REQUEST);
        };
        let url = format!(
            "{}/copyTo/b/{}/o/{}",
            self.object_url(source_bucket, source_object),
            pct_encode(bucket, false),
            pct_encode(object, false)
        );
        match self.client.post(url).send().await {
            Ok(response) if response.status().is_success() => {
                let resource: serde_json::Value = match response.json().await {
                    Ok(resource) => resource,
                    Err(e) => return bad_gateway(e),
                };
                let mut response = xml_status(StatusCode::OK);
                object_headers(&resource, response.headers_mut());
                response
            }
            Ok(response) => xml_status(response.status()),
            Err(e) => bad_gateway(e),
        }
    }

    async fn get(
        &self,
        bucket: &str,
        object: &str,
        headers: &HeaderMap,
        generation: Option<String>,
        head: bool,
    ) -> Response {
        let resource = match self.metadata(bucket, object).await {
            Ok(Some(resource)) => resource,
            Ok(None) => return xml_status(StatusCode::NOT_FOUND),
            Err(response) => return response,
        };
        if generation.is_some_and(|g| g != json_str(&resource, "generation")) {
            return xml_status(StatusCode::NOT_FOUND);
        }
        let etag = etag_of(&resource);
        let header_str = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let matches = |list: &str| list.split(',').any(|t| t.trim() == "*" || t.trim() == etag);
        if header_str(header::IF_MATCH).is_some_and(|l| !matches(l)) {
            return xml_status(StatusCode::PRECONDITION_FAILED);
        }
        let modified = rfc3339_to_unix(&json_str(&resource, "updated")).unwrap_or(0);
        let since = |name| header_str(name).and_then(http_date_to_unix);
        if since(header::IF_UNMODIFIED_SINCE).is_some_and(|t| modified > t) {
            return xml_status(StatusCode::PRECONDITION_FAILED);
        }
        if header_str(header::IF_NONE_MATCH).is_some_and(matches)
            || since(header::IF_MODIFIED_SINCE).is_some_and(|t| modified <= t)
        {
            let mut response = xml_status(StatusCode::NOT_MODIFIED);
            object_headers(&resource, response.headers_mut());
            return response;
        }
        if head {
            let mut response = Response::new(Body::empty());
            object_headers(&resource, response.headers_mut());
            let size = json_str(&resource, "size");
            response.headers_mut().insert(
                header::CONTENT_LENGTH,
                HeaderValue::from_str(&size).unwrap(),
            );
            return response;
        }
        let mut request = self
            .client
            .get(format!("{}?alt=media", self.object_url(bucket, object)));
        if let Some(range) = headers.get(header::RANGE) {
            request = request.header(header::RANGE, range);
        }
        let upstream = match request.send().await {
            Ok(upstream) => upstream,
            Err(e) => return bad_gateway(e),
        };
        let status = upstream.status();
        if !status.is_success() {
            return xml_status(status);
        }
        let content_range = upstream.headers().get(header::CONTENT_RANGE).cloned();
        let bytes = match upstream.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return bad_gateway(e),
        };
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = status;
        object_headers(&resource, response.headers_mut());
        if let Some(content_range) = content_range {
            response
                .headers_mut()
                .insert(header::CONTENT_RANGE, content_range);
        }
        response
    }

    /// `GET /bucket?list-type=2&prefix=&delimiter=&start-after=` as an S3-style XML listing,
    /// in one page.
    async fn list(&self, bucket: &str, query: &[(String, String)]) -> Response {
        let mut url = format!(
            "{}/storage/v1/b/{}/o",
            self.upstream,
            pct_encode(bucket, false)
        );
        let mut separator = '?';
        for (name, value) in query {
            if name == "prefix" || name == "delimiter" {
                url.push_str(&format!("{separator}{name}={}", pct_encode(value, false)));
                separator = '&';
            }
        }
        let listing: serde_json::Value = match self.client.get(url).send().await {
            Ok(r) if r.status().is_success() => match r.json().await {
                Ok(listing) => listing,
                Err(e) => return bad_gateway(e),
            },
            Ok(r) => return xml_status(r.status()),
            Err(e) => return bad_gateway(e),
        };
        let start_after = query
            .iter()
            .find(|(k, _)| k == "start-after")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let mut items: Vec<&serde_json::Value> = listing["items"]
            .as_array()
            .map(|items| items.iter().collect())
            .unwrap_or_default();
        items.retain(|item| json_str(item, "name").as_str() > start_after);
        items.sort_by_key(|item| json_str(item, "name"));
        let mut xml =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>");
        xml.push_str(&format!("<Name>{}</Name>", xml_escape(bucket)));
        for item in items {
            xml.push_str(&format!(
                "<Contents><Key>{}</Key><Size>{}</Size><LastModified>{}</LastModified>\
                 <ETag>{}</ETag></Contents>",
                xml_escape(&json_str(item, "name")),
                json_str(item, "size"),
                xml_escape(&json_str(item, "updated")),
                xml_escape(&etag_of(item)),
            ));
        }
        for prefix in listing["prefixes"].as_array().into_iter().flatten() {
            let prefix = prefix.as_str().unwrap_or_default();
            xml.push_str(&format!(
                "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                xml_escape(prefix)
            ));
        }
        xml.push_str("</ListBucketResult>");
        xml_response(StatusCode::OK, xml)
    }

    fn start_upload(&self, bucket: &str, object: &str, headers: &HeaderMap) -> Response {
        let id = format!(
            "upload-{}",
            self.next_upload.fetch_add(1, Ordering::Relaxed)
        );
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.uploads.lock().unwrap().insert(
            id.clone(),
            Upload {
                bucket: bucket.into(),
                object: object.into(),
                content_type,
                parts: BTreeMap::new(),
            },
        );
        xml_response(
            StatusCode::OK,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult>\
                 <Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId>\
                 </InitiateMultipartUploadResult>",
                xml_escape(bucket),
                xml_escape(object)
            ),
        )
    }

    fn put_part(&self, upload_id: &str, part: u32, body: Bytes) -> Response {
        let etag = format!("\"{}\"", hex(&Sha256::digest(&body)[..16]));
        let mut uploads = self.uploads.lock().unwrap();
        let Some(upload) = uploads.get_mut(upload_id) else {
            return xml_status(StatusCode::NOT_FOUND);
        };
        upload.parts.insert(part, body);
        let mut response = xml_status(StatusCode::OK);
        response
            .headers_mut()
            .insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
        response
    }

    /// Joins every part in order (the request's part list is not read) into one object.
    async fn complete_upload(&self, upload_id: &str) -> Response {
        let Some(upload) = self.uploads.lock().unwrap().remove(upload_id) else {
            return xml_status(StatusCode::NOT_FOUND);
        };
        let body: Vec<u8> = upload
            .parts
            .values()
            .flat_map(|p| p.iter().copied())
            .collect();
        let resource = match self
            .upload(
                &upload.bucket,
                &upload.object,
                upload.content_type,
                body.into(),
            )
            .await
        {
            Ok(resource) => resource,
            Err(response) => return response,
        };
        let mut response = xml_response(
            StatusCode::OK,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>\
                 <Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag>\
                 </CompleteMultipartUploadResult>",
                xml_escape(&upload.bucket),
                xml_escape(&upload.object),
                xml_escape(&etag_of(&resource))
            ),
        );
        if let Ok(generation) = HeaderValue::from_str(&json_str(&resource, "generation")) {
            response
                .headers_mut()
                .insert("x-goog-generation", generation);
        }
        response
    }

    /// Passes a request through unchanged; adds an ETag (the object's, or a hash of the body).
    async fn forward(
        &self,
        method: Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.upstream))
            .body(body);
        for (name, value) in headers {
            if ![
                header::HOST,
                header::CONTENT_LENGTH,
                header::CONNECTION,
                header::TRANSFER_ENCODING,
            ]
            .contains(name)
            {
                request = request.header(name, value);
            }
        }
        let upstream = match request.send().await {
            Ok(upstream) => upstream,
            Err(e) => return bad_gateway(e),
        };
        let status = upstream.status();
        let mut headers = upstream.headers().clone();
        let bytes = match upstream.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return bad_gateway(e),
        };
        for name in [
            header::CONTENT_LENGTH,
            header::CONNECTION,
            header::TRANSFER_ENCODING,
        ] {
            headers.remove(name);
        }
        if !headers.contains_key(header::ETAG) && status.is_success() {
            let etag = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .filter(|json| json.get("md5Hash").is_some())
                .map(|json| etag_of(&json))
                .unwrap_or_else(|| format!("\"{}\"", hex(&Sha256::digest(&bytes)[..16])));
            headers.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
        }
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

/// The headers of an object for GET, HEAD and PUT: ETag, Last-Modified, x-goog-generation,
/// the attribute headers and x-goog-meta-*.
fn object_headers(resource: &serde_json::Value, headers: &mut HeaderMap) {
    let mut set = |name: &str, value: String| {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            headers.insert(name, value);
        }
    };
    set("etag", etag_of(resource));
    if let Some(updated) = rfc3339_to_unix(&json_str(resource, "updated")) {
        set("last-modified", http_date(updated));
    }
    set("x-goog-generation", json_str(resource, "generation"));
    for (header, field) in GCS_FIELD_HEADERS {
        if let Some(value) = resource[field].as_str() {
            set(header, value.to_string());
        }
    }
    if let Some(metadata) = resource["metadata"].as_object() {
        for (key, value) in metadata {
            if let Some(value) = value.as_str() {
                set(&format!("{GCS_META_PREFIX}{key}"), value.to_string());
            }
        }
    }
}

/// A quoted ETag from the object's MD5 and generation (a rewrite of the same bytes changes it).
fn etag_of(resource: &serde_json::Value) -> String {
    format!(
        "\"{}-{}\"",
        json_str(resource, "md5Hash"),
        json_str(resource, "generation")
    )
}

/// A field as text, whether the emulator gave a string or a number ("" when absent).
fn json_str(value: &serde_json::Value, field: &str) -> String {
    match &value[field] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn xml_status(status: StatusCode) -> Response {
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = status;
        return response;
    }
    let code = status
        .canonical_reason()
        .unwrap_or("Error")
        .replace(' ', "");
    xml_response(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>{status}</Message></Error>"
        ),
    )
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    let mut response = Response::new(Body::from(xml));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=UTF-8"),
    );
    response
}

fn bad_gateway(error: reqwest::Error) -> Response {
    xml_response(
        StatusCode::BAD_GATEWAY,
        format!(
            "<Error><Code>BadGateway</Code><Message>{}</Message></Error>",
            xml_escape(&error.to_string())
        ),
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A server process in a process group of its own. Dropping it sends `stop` (if any) to the
/// process and waits up to 5 s, then kills the whole group. Data is thrown away, so a clean
/// shutdown is asked for only where it frees something (postgres' shared memory).
struct Server {
    name: &'static str,
    child: Child,
    logs: Vec<PathBuf>,
    stop: Option<libc::c_int>,
}

impl Server {
    fn spawn(
        name: &'static str,
        mut command: Command,
        log: PathBuf,
        stop: Option<libc::c_int>,
    ) -> Server {
        let out = File::create(&log).expect("create log file");
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .process_group(0);
        let program = PathBuf::from(command.get_program());
        let child = command
            .spawn()
            .unwrap_or_else(|e| missing(name, &program, e));
        Server {
            name,
            child,
            logs: vec![log],
            stop,
        }
    }

    /// Another log file whose tail a failure shows.
    fn also_log(&mut self, log: PathBuf) {
        self.logs.push(log);
    }

    /// Polls `probe` until it says yes; Err(log tail) if the process exits first; panics after
    /// READY_TIMEOUT.
    async fn wait_ready<F, Fut>(&mut self, mut probe: F) -> Result<(), String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if probe().await {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Err(format!("{} ({status}):\n{}", self.name, self.log_tail()));
            }
            if Instant::now() > deadline {
                panic!(
                    "{} was not ready within {READY_TIMEOUT:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let mut tail = String::new();
        for log in &self.logs {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(40);
            tail.push_str(&format!(
                "--- {}\n{}\n",
                log.display(),
                lines[from..].join("\n")
            ));
        }
        tail
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        if let Some(stop) = self.stop
            && matches!(self.child.try_wait(), Ok(None))
        {
            unsafe { libc::kill(pid, stop) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Whatever is left of the group (forks, postgres backends).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn missing(what: &str, program: &Path, error: std::io::Error) -> ! {
    panic!(
        "cannot run {what} ({}): {error} (scripts/install_test_deps.sh installs it)",
        program.display()
    )
}

/// A command run as `user` (uid, gid) through setpriv when given, else as ourselves.
fn as_user(user: Option<(u32, u32)>, program: &Path) -> Command {
    match user {
        Some((uid, gid)) => {
            let mut command = Command::new("setpriv");
            command
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// The uid and gid of a system user.
fn system_user(name: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(name).ok()?;
    let mut passwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut passwd,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some((passwd.pw_uid, passwd.pw_gid))
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// A file of the repository (tests/.venv, tests/services), which must exist.
fn repo_path(relative: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    assert!(
        path.exists(),
        "{} is missing (scripts/install_test_deps.sh installs it)",
        path.display()
    );
    path
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind((LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A plain-HTTP client (the rustls provider is installed only because reqwest asks for one).
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// Whether anything answers HTTP at `url`.
async fn answers(client: &reqwest::Client, url: &str) -> bool {
    client.get(url).send().await.is_ok()
}

// ---------------------------------------------------------------------------------------------
// Encodings and dates

/// Percent-encodes all but unreserved characters (and `/` when `keep_slash`).
fn pct_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/')
        {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes %XX (and `+` as a space when `plus_is_space`, as in query strings).
fn pct_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex_digit(bytes[i + 1])? * 16 + hex_digit(bytes[i + 2])?))
            .flatten();
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 2;
            }
            (None, b'+') if plus_is_space => out.push(b' '),
            (None, byte) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (pct_decode(k, true), pct_decode(v, true))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        out.push_str(&format!("{b:02x}"));
        out
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn http_date(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days + 4).rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn http_date_to_unix(text: &str) -> Option<i64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, _] = parts[..] else {
        return None;
    };
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let days = days_from_civil(year.parse().ok()?, month, day.parse().ok()?);
    Some(days * 86_400 + seconds_of(time)?)
}

/// The whole seconds of `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
fn rfc3339_to_unix(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-');
    let year = date.next()?.parse().ok()?;
    let month = date.next()?.parse().ok()?;
    let day = date.next()?.parse().ok()?;
    let time = time.trim_end_matches('Z');
    let time = time.split('.').next()?;
    Some(days_from_civil(year, month, day) * 86_400 + seconds_of(time)?)
}

fn seconds_of(hms: &str) -> Option<i64> {
    let mut parts = hms.split(':').map(|p| p.parse::<i64>().ok());
    Some(parts.next()?? * 3600 + parts.next()?? * 60 + parts.next()??)
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let month = month as i64;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
