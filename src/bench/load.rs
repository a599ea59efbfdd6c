//! `anomstack bench load`: many concurrent clients requesting a running server's pages for a
//! while, each connection a task that loops over the paths. Reports, per path, requests,
//! errors (transport failures and any status but 2xx) and latency percentiles. The server is
//! measured from outside, as users meet it; `scripts/bench-soak.sh` starts one with jobs
//! running every minute and reads its memory.

use std::time::{Duration, Instant};

/// What one path saw.
#[derive(Debug, Clone, Default)]
pub struct PathLoad {
    pub path: String,
    /// Latencies of the answered requests, in microseconds.
    pub latencies_us: Vec<u64>,
    pub errors: u64,
    /// The first few errors, as `status` or the transport error.
    pub first_errors: Vec<String>,
}

impl PathLoad {
    pub fn requests(&self) -> u64 {
        self.latencies_us.len() as u64 + self.errors
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds; nearest rank.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        percentile(&self.latencies_us, q) as f64 / 1000.0
    }
}

/// The nearest-rank `q` quantile of `values` (sorted here), 0 for none.
pub fn percentile(values: &[u64], q: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.saturating_sub(1).min(sorted.len() - 1)]
}

/// Loads `base` + each of `paths` from `connections` tasks for `duration`.
pub async fn run(
    base: &str,
    paths: &[String],
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Vec<PathLoad>> {
    anyhow::ensure!(!paths.is_empty(), "give at least one --path");
    crate::http::tls_ready();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    let until = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections.max(1) {
        let (client, base, paths) = (client.clone(), base.to_owned(), paths.to_vec());
        tasks.spawn(async move {
            let mut seen: Vec<PathLoad> = paths
                .iter()
                .map(|p| PathLoad {
                    path: p.clone(),
                    ..PathLoad::default()
                })
                .collect();
            // Each task starts at another path, so every path is loaded from the first second.
            let mut i = c % paths.len();
            while Instant::now() < until {
                let started = Instant::now();
                let outcome = match client.get(format!("{base}{}", paths[i])).send().await {
                    Ok(r) if r.status().is_success() => {
                        r.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                    }
                    Ok(r) => Err(format!("status {}", r.status().as_u16())),
                    Err(e) => Err(e.to_string()),
                };
                let slot = &mut seen[i];
                match outcome {
                    Ok(()) => slot
                        .latencies_us
                        .push(started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64),
                    Err(e) => {
                        slot.errors += 1;
                        if slot.first_errors.len() < 3 {
                            slot.first_errors.push(e);
                        }
                    }
                }
                i = (i + 1) % paths.len();
            }
            seen
        });
    }
    let mut total: Vec<PathLoad> = paths
        .iter()
        .map(|p| PathLoad {
            path: p.clone(),
            ..PathLoad::default()
        })
        .collect();
    while let Some(done) = tasks.join_next().await {
        for (sum, one) in total.iter_mut().zip(done?) {
            sum.latencies_us.extend(one.latencies_us);
            sum.errors += one.errors;
            for e in one.first_errors {
                if sum.first_errors.len() < 3 {
                    sum.first_errors.push(e);
                }
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
