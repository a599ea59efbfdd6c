//! `anomstack backtest`: replays labelled or unlabelled series through a batch's detection
//! settings and scores the result with the NAB rules.

pub mod io;
pub mod nab;
mod run;

use std::path::PathBuf;

pub use crate::detect::{ReplayRow, ReplaySettings, replay, replay_taught};
pub use run::{BacktestReport, BacktestRequest, ProfileReport, run};

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("{}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("{}: line {line}: {reason}", path.display())]
    BadRow {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}
