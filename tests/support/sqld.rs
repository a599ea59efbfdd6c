//! A real libSQL server (`sqld`, what Turso runs) started per test: a temporary directory,
//! free ports on 127.0.0.1, and optionally JWT auth with an Ed25519 key this module makes and
//! signs tokens with. The binary is found at `ANOMSTACK_TEST_SQLD`, then `shared/bin/sqld` in
//! a folder above the project (`../shared/bin/sqld` in this workplace), then `sqld` on PATH;
//! without one the test fails and says how to get it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use tokio::process::{Child, Command};

/// Where the sqld binary is, or why there is none.
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("ANOMSTACK_TEST_SQLD") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for dir in root.ancestors().skip(1) {
        let candidate = dir.join("shared").join("bin").join("sqld");
        if candidate.is_file() {
            return candidate;
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("sqld");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "no sqld binary (the libSQL server Turso runs): set ANOMSTACK_TEST_SQLD to its path, put \
         it at ../shared/bin/sqld or on PATH. Releases: \
         https://github.com/tursodatabase/libsql/releases (libsql-server), or \
         `cargo install libsql-server` (binary `sqld`)"
    );
}

/// Signs EdDSA JWTs that a server started with its public key accepts.
pub struct Signer {
    pair: Ed25519KeyPair,
}

impl Signer {
    pub fn new() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("a key");
        Self {
            pair: Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("the key reads back"),
        }
    }

    /// The public key as sqld reads it from a file: raw 32 bytes in URL-safe base64.
    fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())
    }

    /// A token with full access.
    pub fn token(&self) -> String {
        self.sign(r#"{"sub":"anomstack-test"}"#)
    }

    /// A read-only token (`"a": "ro"`): writes get 403.
    pub fn read_only_token(&self) -> String {
        self.sign(r#"{"sub":"anomstack-test","a":"ro"}"#)
    }

    fn sign(&self, payload: &str) -> String {
        let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(payload);
        let message = format!("{head}.{body}");
        let signature = URL_SAFE_NO_PAD.encode(self.pair.sign(message.as_bytes()).as_ref());
        format!("{message}.{signature}")
    }
}

/// A running sqld; stopped when dropped.
pub struct Sqld {
    /// `http://127.0.0.1:PORT`: what the client connects to (remote and replica mode).
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The signer whose public key the server trusts, when auth is on.
    pub signer: Option<Signer>,
    /// `http://127.0.0.1:PORT` of the admin API (`/v1/namespaces/default/stats`: statements,
    /// rows read and written).
    pub admin_url: String,
    http_port: u16,
    grpc_port: u16,
    admin_port: u16,
    child: Option<Child>,
}

impl Sqld {
    /// A server without auth.
    pub async fn start() -> Self {
        Self::launch(None).await
    }

    /// A server that accepts only tokens signed by its [`Signer`].
    pub async fn start_with_auth() -> Self {
        Self::launch(Some(Signer::new())).await
    }

    async fn launch(signer: Option<Signer>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Self {
            url: String::new(),
            dir,
            signer,
            admin_url: String::new(),
            http_port: free_port(),
            grpc_port: free_port(),
            admin_port: free_port(),
            child: None,
        };
        server.url = format!("http://127.0.0.1:{}", server.http_port);
        server.admin_url = format!("http://127.0.0.1:{}", server.admin_port);
        server.run().await;
        server
    }

    /// A token the server accepts ("" without auth).
    pub fn token(&self) -> String {
        self.signer.as_ref().map(Signer::token).unwrap_or_default()
    }

    /// Starts the process (again, after [`Sqld::stop`]) on the same ports and data.
    pub async fn run(&mut self) {
        let bin = binary();
        let mut cmd = Command::new(&bin);
        cmd.arg("--db-path")
            .arg(self.dir.path().join("data.sqld"))
            .arg("--http-listen-addr")
            .arg(format!("127.0.0.1:{}", self.http_port))
            .arg("--grpc-listen-addr")
            .arg(format!("127.0.0.1:{}", self.grpc_port))
            .arg("--admin-listen-addr")
            .arg(format!("127.0.0.1:{}", self.admin_port))
            .arg("--no-welcome")
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(signer) = &self.signer {
            let key = self.dir.path().join("jwt.key");
            std::fs::write(&key, signer.public_key()).expect("write the key");
            cmd.arg("--auth-jwt-key-file").arg(&key);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let health = format!("{}/health", self.url);
        for _ in 0..200 {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = stderr.read_to_string(&mut err).await;
                }
                panic!("sqld exited at start ({status}): {err}");
            }
            if healthy(self.http_port).await {
                self.child = Some(child);
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sqld did not answer {health} within 10 s");
    }

    /// Kills the process (as a crash would); the data stays for [`Sqld::run`].
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Whether `GET /health` answers 200 (plain HTTP/1.0, no client library needed).
async fn healthy(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && head.ends_with(b"200")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
