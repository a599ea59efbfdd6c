//! Empirical tail probabilities shared by ECOD and COPOD. Against a reference set of N values
//! of one column, a value q has left tail `-ln F(q)` with `F(q) = #{r ≤ q} / N` and right tail
//! `-ln G(q)` with `G(q) = #{r ≥ q} / N`, the fractions taken from PyOD's grid
//! `linspace(1/N, 1, N)` so they agree with it to the last bit.

use super::Matrix;
use super::stats::{linspace_at, skewness};

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
