//! Empirical tail probabilities shared by ECOD and COPOD. Against a reference set of N values
//! of one column, a value q has left tail `-ln F(q)` with `F(q) = #{r ≤ q} / N` and right tail
//! `-ln G(q)` with `G(q) = #{r ≥ q} / N`, the fractions taken from PyOD's grid
//! `linspace(1/N, 1, N)` so they agree with it to the last bit.

use serde::{Deserialize, Serialize};

use super::stats::{linspace_at, skewness};
use super::{DetectError, Features, Matrix};

/// Per column of a reference set: its values sorted, and the sign-relevant skewness.
pub struct ColumnTails {
    sorted: Vec<f64>,
    pub skewness: f64,
}

impl ColumnTails {
    pub fn new(mut values: Vec<f64>) -> Self {
        let skewness = skewness(&values);
        values.sort_by(f64::total_cmp);
        Self {
            sorted: values,
            skewness,
        }
    }

    /// `(left, right)` tail scores of `q`, which must be one of the reference values (so both
    /// fractions are at least 1/N).
    pub fn tails(&self, q: f64) -> (f64, f64) {
        let n = self.sorted.len();
        let at_most = self.sorted.partition_point(|v| *v <= q);
        let at_least = n - self.sorted.partition_point(|v| *v < q);
        let grid = |count: usize| linspace_at(1.0 / n as f64, 1.0, n, count.max(1) - 1);
        (-grid(at_most).ln(), -grid(at_least).ln())
    }
}

/// The reference set for scoring `rows`: the training rows, plus the scored rows themselves
/// when they are not the training rows (PyOD scores a batch against training ∪ batch).
pub fn reference_columns(train: &Matrix, extra: Option<&Matrix>) -> Vec<ColumnTails> {
    (0..train.cols())
        .map(|j| {
            let mut values = train.column(j);
            if let Some(extra) = extra {
                values.extend(extra.column(j));
            }
            ColumnTails::new(values)
        })
        .collect()
}

/// The model of a tail detector (ECOD, COPOD): the training rows, against which new rows are
/// ranked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TailModel {
    pub train: Matrix,
}

/// How a detector turns one column's tails of a value into that column's score.
pub type ColumnScore = fn(&ColumnTails, f64) -> f64;

impl TailModel {
    /// The model and the training rows' own scores.
    pub fn fit(train: &Features, score: ColumnScore) -> Result<(Self, Vec<f64>), DetectError> {
        if train.x.is_empty() {
            return Err(DetectError::NotEnoughRows { needed: 1, got: 0 });
        }
        let scores = tail_scores(&train.x, None, score);
        Ok((
            Self {
                train: train.x.clone(),
            },
            scores,
        ))
    }

    pub fn score(&self, rows: &Features, score: ColumnScore) -> Vec<f64> {
        tail_scores(&self.train, Some(&rows.x), score)
    }
}

/// Each row's column scores summed; `rows` (or the training rows themselves) are ranked
/// against [`reference_columns`].
fn tail_scores(train: &Matrix, rows: Option<&Matrix>, score: ColumnScore) -> Vec<f64> {
    let columns = reference_columns(train, rows);
    let queries = rows.unwrap_or(train);
    queries
        .iter_rows()
        .map(|row| {
            row.iter()
                .zip(&columns)
                .map(|(&q, col)| score(col, q))
                .sum()
        })
        .collect()
}
