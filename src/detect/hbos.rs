//! HBOS (histogram-based outlier score), as PyOD's `HBOS`: one equal-width histogram per
//! column over the training range; a value's column score is `log2(density + alpha)` of its
//! bin (values a little outside the range use the edge bin, far outside the least dense bin),
//! and the row's score is minus the sum over columns.

use serde::{Deserialize, Serialize};

use super::stats::linspace_at;
use super::{DetectError, Detector, Features, Matrix};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HbosParams {
    pub n_bins: usize,
    pub alpha: f64,
    pub tol: f64,
}

impl Default for HbosParams {
    fn default() -> Self {
        Self {
            n_bins: 10,
            alpha: 0.1,
            tol: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HbosModel {
    pub params: HbosParams,
    /// Per column, `n_bins + 1` edges.
    #[serde(with = "super::codec::float_rows")]
    pub edges: Vec<Vec<f64>>,
    /// Per column, `n_bins` densities.
    #[serde(with = "super::codec::float_rows")]
    pub densities: Vec<Vec<f64>>,
}

impl Detector for HbosParams {
    type Model = HbosModel;

    fn fit(&self, train: &Features) -> Result<(HbosModel, Vec<f64>), DetectError> {
        if self.n_bins == 0 {
            return Err(DetectError::Params("n_bins must be at least 1".into()));
        }
        let n = train.x.rows();
        if n == 0 {
            return Err(DetectError::NotEnoughRows { needed: 1, got: 0 });
        }
        let bins = self.n_bins;
        let mut edges = Vec::new();
        let mut densities = Vec::new();
        for j in 0..train.x.cols() {
            let col = train.x.column(j);
            let (mut lo, mut hi) = col
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            if lo == hi {
                lo -= 0.5;
                hi += 0.5;
            }
            let e: Vec<f64> = (0..=bins)
                .map(|i| linspace_at(lo, hi, bins + 1, i))
                .collect();
            let mut counts = vec![0usize; bins];
            for v in &col {
                // e_b <= v < e_{b+1}; the maximum goes in the last bin.
                let b = e
                    .partition_point(|edge| edge <= v)
                    .saturating_sub(1)
                    .min(bins - 1);
                counts[b] += 1;
            }
            let d = counts
                .iter()
                .enumerate()
                .map(|(b, &c)| c as f64 / (e[b + 1] - e[b]) / n as f64)
                .collect();
            edges.push(e);
            densities.push(d);
        }
        let model = HbosModel {
            params: self.clone(),
            edges,
            densities,
        };
        let scores = model.score_matrix(&train.x);
        Ok((model, scores))
    }

    fn score(model: &HbosModel, rows: &Features) -> Vec<f64> {
        model.score_matrix(&rows.x)
    }
}

impl HbosModel {
    fn score_matrix(&self, x: &Matrix) -> Vec<f64> {
        let alpha = self.params.alpha;
        let tol = self.params.tol;
        let logs: Vec<Vec<f64>> = self
            .densities
            .iter()
            .map(|d| d.iter().map(|h| (h + alpha).log2()).collect())
            .collect();
        x.iter_rows()
            .map(|row| {
                let total: f64 = row
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| {
                        let e = &self.edges[j];
                        let l = &logs[j];
                        let bins = l.len();
                        let lowest = l.iter().copied().fold(f64::INFINITY, f64::min);
                        // Number of edges strictly below v: bins are closed on the right here.
                        let b = e.partition_point(|edge| *edge < v);
                        if b == 0 {
                            if e[0] - v <= (e[1] - e[0]) * tol {
                                l[0]
                            } else {
                                lowest
                            }
                        } else if b > bins {
                            if v - e[bins] <= (e[bins] - e[bins - 1]) * tol {
                                l[bins - 1]
                            } else {
                                lowest
                            }
                        } else {
                            l[b - 1]
                        }
                    })
                    .sum();
                -total
            })
            .collect()
    }
}
