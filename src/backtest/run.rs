//! Running a backtest over files: read each series, replay it (files in parallel), write its
//! scores mirroring the input layout, and score the lot against NAB labels when given.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::io::{csv_files, read_series, read_windows, window_rows, write_scores};
use super::nab::{self, NabScore, PROFILES, Profile, ScoredFile};
use super::{BacktestError, ReplaySettings, replay_taught};

pub struct BacktestRequest {
    /// A CSV file or a folder of them (searched recursively).
    pub input: PathBuf,
    pub output: PathBuf,
    pub settings: ReplaySettings,
    /// NAB `combined_windows.json`, keyed by paths relative to `input`.
    pub labels: Option<PathBuf>,
    pub threads: usize,
    /// Give a verdict on every alert the moment it is sent, as a person would: 👍 inside a
    /// labelled window, 👎 outside (needs `labels`).
    pub feedback: bool,
}

/// Scores of one profile: of the alerts as sent, and of the raw score at its best threshold.
pub struct ProfileReport {
    pub profile: Profile,
    pub alerts: NabScore,
    pub optimized: NabScore,
}

pub struct BacktestReport {
    pub files: usize,
    pub rows: usize,
    pub alerts: usize,
    pub nab: Option<Vec<ProfileReport>>,
}

/// A replayed file: its rows and its windows as row ranges.
type FileOutcome = (Vec<super::ReplayRow>, Vec<(usize, usize)>);

/// Runs the backtest; `on_file_done` is called after each file (for a progress bar).
pub fn run(
    req: &BacktestRequest,
    on_file_done: &(dyn Fn(usize) + Sync),
) -> Result<BacktestReport, BacktestError> {
    let single = req.input.is_file();
    let files: Vec<PathBuf> = if single {
        vec![PathBuf::from(req.input.file_name().unwrap_or_default())]
    } else {
        csv_files(&req.input)?
    };
    let source = |rel: &Path| {
        if single {
            req.input.clone()
        } else {
            req.input.join(rel)
        }
    };
    let windows = match &req.labels {
        Some(path) => Some(read_windows(path)?),
        None => None,
    };

    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<FileOutcome, BacktestError>>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..req.threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(rel) = files.get(i) else { break };
                    let outcome = (|| {
                        let series = read_series(&source(rel))?;
                        let key = rel.to_string_lossy().replace('\\', "/");
                        let w = windows
                            .as_ref()
                            .and_then(|all| all.get(&key))
                            .map(|w| window_rows(&series, w))
                            .unwrap_or_default();
                        let inside = |p: usize| w.iter().any(|&(a, b)| (a..=b).contains(&p));
                        let teacher: Option<&dyn Fn(usize) -> bool> =
                            req.feedback.then_some(&inside);
                        let rows = replay_taught(&series.points(), &req.settings, teacher);
                        write_scores(&req.output.join(rel), &series, &rows)?;
                        Ok((rows, w))
                    })();
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(outcome);
                    }
                    on_file_done(done.fetch_add(1, Ordering::SeqCst) + 1);
                }
            });
        }
    });

    let results = results.into_inner().unwrap_or_default();
    let mut scored = Vec::new();
    let mut alert_files = Vec::new();
    let (mut rows, mut alerts) = (0, 0);
    for outcome in results.into_iter().flatten() {
        let (replayed, w) = outcome?;
        rows += replayed.len();
        alerts += replayed.iter().filter(|r| r.alert).count();
        scored.push(ScoredFile {
            scores: replayed.iter().map(|r| r.score).collect(),
            windows: w.clone(),
        });
        alert_files.push(ScoredFile {
            scores: replayed
                .iter()
                .map(|r| f64::from(u8::from(r.alert)))
                .collect(),
            windows: w,
        });
    }
    let nab = windows.is_some().then(|| {
        PROFILES
            .iter()
            .map(|p| ProfileReport {
                profile: *p,
                alerts: nab::score_at(&alert_files, p, 1.0),
                optimized: nab::optimized(&scored, p),
            })
            .collect()
    });
    Ok(BacktestReport {
        files: files.len(),
        rows,
        alerts,
        nab,
    })
}
