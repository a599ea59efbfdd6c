//! Records the git commit and build time for `/version` and `--version`.
//! `ANOMSTACK_BUILD_HASH` / `ANOMSTACK_BUILD_TIME` (Docker build args) take precedence.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    duckdb_rpath();
    println!("cargo:rerun-if-env-changed=ANOMSTACK_BUILD_HASH");
    println!("cargo:rerun-if-env-changed=ANOMSTACK_BUILD_TIME");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    for path in [".git/HEAD", ".git/refs/heads"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }

    let commit = std::env::var("ANOMSTACK_BUILD_HASH")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());

    let build_time = std::env::var("ANOMSTACK_BUILD_TIME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| {
            let secs = std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or_else(|| {
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0)
                });
            utc_text(secs)
        });

    println!("cargo:rustc-env=ANOMSTACK_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=ANOMSTACK_BUILD_TIME_UTC={build_time}");
}

/// `YYYY-MM-DDTHH:MM:SSZ` from Unix seconds (Howard Hinnant's civil-from-days).
fn utc_text(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// With the `duckdb` feature linked against a prebuilt `libduckdb.so` (`DUCKDB_LIB_DIR`), the
/// binaries and tests find it at run time without `LD_LIBRARY_PATH`. The bundled build links
/// DuckDB in and needs nothing.
fn duckdb_rpath() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if std::env::var_os("CARGO_FEATURE_DUCKDB").is_none()
        || std::env::var_os("CARGO_FEATURE_DUCKDB_BUNDLED").is_some()
    {
        return;
    }
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        let dir = std::path::absolute(&dir).unwrap_or_else(|_| dir.into());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
}
