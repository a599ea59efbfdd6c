//! KNN outlier detector, as PyOD's `KNN`: the score of a row is its distance to its k-th
//! nearest training row (`largest`, the default), or the mean or median of the distances to
//! its k nearest. A training row's own score leaves the row itself out (once).

use serde::{Deserialize, Serialize};

use super::kdtree::KdIndex;
use super::stats::median;
use super::{DetectError, Detector, Features, Matrix, RowScorer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KnnMethod {
    Largest,
    Mean,
    Median,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnnParams {
    pub n_neighbors: usize,
    pub method: KnnMethod,
    /// When scoring a training row, also leave out the training rows within this many rows of
    /// it in time (a Theiler window). The training scores then measure how far a row is from
    /// other times, which is what a new row is compared with: a steady trend, whose rows are
    /// only close to their immediate neighbours, no longer makes every new row look unusual.
    /// 0 leaves out only the row itself, as PyOD does.
    pub exclude_within: usize,
}

impl Default for KnnParams {
    fn default() -> Self {
        Self {
            n_neighbors: 5,
            method: KnnMethod::Largest,
            exclude_within: 0,
        }
    }
}

/// The training rows themselves: neighbours are searched among them at scoring time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnModel {
    pub params: KnnParams,
    pub train: Matrix,
}

impl Detector for KnnParams {
    type Model = KnnModel;

    fn fit(&self, train: &Features) -> Result<(KnnModel, Vec<f64>), DetectError> {
        let k = self.n_neighbors;
        if k == 0 {
            return Err(DetectError::Params("n_neighbors must be at least 1".into()));
        }
        let n = train.x.rows();
        if n <= k {
            return Err(DetectError::NotEnoughRows {
                needed: k + 1,
                got: n,
            });
        }
        // A young metric gets a narrower window, so it still has k rows left to compare with.
        let w = self.exclude_within.min((n - k - 1) / 2);
        let index = KdIndex::build(&train.x);
        let scores = train
            .x
            .iter_rows()
            .enumerate()
            .map(|(i, row)| {
                // Leaving out the row itself (and only it, for w = 0) drops exactly one zero
                // distance, as PyOD's leave-one-out does even when the row has duplicates.
                let d = index.nearest_distances_except(row, k, |j| j.abs_diff(i) <= w);
                self.method.combine(&d)
            })
            .collect();
        Ok((
            KnnModel {
                params: self.clone(),
                train: train.x.clone(),
            },
            scores,
        ))
    }

    fn score(model: &KnnModel, rows: &Features) -> Vec<f64> {
        model.scorer().score(rows)
    }
}

/// Scores with the neighbour index built once.
pub struct KnnScorer<'a> {
    model: &'a KnnModel,
    index: KdIndex,
}

impl KnnModel {
    pub fn scorer(&self) -> KnnScorer<'_> {
        KnnScorer {
            model: self,
            index: KdIndex::build(&self.train),
        }
    }
}

impl RowScorer for KnnScorer<'_> {
    fn score(&mut self, rows: &Features) -> Vec<f64> {
        let params = &self.model.params;
        rows.x
            .iter_rows()
            .map(|row| {
                let d = self.index.nearest_distances(row, params.n_neighbors);
                params.method.combine(&d)
            })
            .collect()
    }
}

impl KnnMethod {
    fn combine(self, distances: &[f64]) -> f64 {
        match self {
            KnnMethod::Largest => distances.last().copied().unwrap_or(f64::NAN),
            KnnMethod::Mean => distances.iter().sum::<f64>() / distances.len() as f64,
            KnnMethod::Median => median(distances),
        }
    }
}
