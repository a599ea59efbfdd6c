//! `anomstack healthcheck`: GET the running app's `/health` (Docker's HEALTHCHECK).

use std::process::ExitCode;

use crate::cli::HealthcheckArgs;

pub async fn healthcheck(args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let url = args.url.unwrap_or_else(|| {
        let port = std::env::var("ANOMSTACK_PORT")
            .ok()
            .and_then(|p| p.trim().parse::<u16>().ok())
            .unwrap_or(crate::config::DEFAULT_PORT);
        format!("http://127.0.0.1:{port}/health")
    });
    let client = crate::http::client(std::time::Duration::from_secs(args.timeout.max(1)))?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(response) => {
            eprintln!("{url}: HTTP {}", response.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("{url}: {}", crate::http::without_url(&e));
            Ok(ExitCode::FAILURE)
        }
    }
}
