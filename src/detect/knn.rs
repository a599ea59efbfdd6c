//! KNN outlier detector, as PyOD's `KNN`: the score of a row is its distance to its k-th
//! nearest training row (`largest`, the default), or the mean or median of the distances to
//! its k nearest. A training row's own score leaves the row itself out (once).

use serde::{Deserialize, Serialize};

use super::kdtree::{KdIndex, KdTree};
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
}

impl Default for KnnParams {
    fn default() -> Self {
        Self {
            n_neighbors: 5,
            method: KnnMethod::Largest,
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
        let tree = KdTree::new(&train.x);
        let scores = train
            .x
            .iter_rows()
            .map(|row| {
                // The row finds itself at distance 0; drop one zero.
                let d = tree.nearest_distances(row, k + 1);
                self.method.combine(&d[1..])
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
                let d = self
                    .index
                    .nearest_distances(&self.model.train, row, params.n_neighbors);
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
