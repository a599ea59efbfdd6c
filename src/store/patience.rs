//! Waiting out a database that cannot be reached. A Turso database is a server: it restarts,
//! its network drops, a region fails over. The records that keep the queue honest (a run's
//! end, a job's settlement) must land once it is back, or a job would stay "running" on a
//! live worker forever; so their writes are tried again, with growing pauses, for a while.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::StoreError;

const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(15);
/// After this, the error is returned; the heartbeat-based recovery takes over from there.
pub const PATIENCE: Duration = Duration::from_secs(600);

/// Runs `attempt` until it succeeds, fails for another reason than an unreachable database,
/// or [`PATIENCE`] runs out.
pub async fn patiently<T, F, Fut>(what: &str, attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    retry_within(what, PATIENCE, attempt).await
}

async fn retry_within<T, F, Fut>(
    what: &str,
    patience: Duration,
    mut attempt: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        match attempt().await {
            Err(e) if e.is_unavailable() && started.elapsed() + pause <= patience => {
                tracing::warn!(
                    what,
                    error = %e,
                    retry_in_ms = pause.as_millis() as u64,
                    "the database is unreachable; trying again"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn down() -> StoreError {
        StoreError::Unreachable {
            context: "test".into(),
            source: libsql::Error::ConnectionFailed("refused".into()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_database_is_asked_again_until_it_answers() {
        let calls = AtomicU32::new(0);
        let result = patiently("test", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0..=3 => Err(down()),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(result.ok(), Some(4));
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_and_exhausted_patience_end_it() {
        let calls = AtomicU32::new(0);
        let refused: Result<(), _> = patiently("test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Busy("no".into()))
        })
        .await;
        assert!(matches!(refused, Err(StoreError::Busy(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let started = tokio::time::Instant::now();
        let gone: Result<(), _> =
            retry_within("test", Duration::from_secs(60), || async { Err(down()) }).await;
        assert!(gone.is_err_and(|e| e.is_unavailable()));
        assert!(started.elapsed() <= Duration::from_secs(60));
    }
}
