//! PCA outlier detector, as PyOD's `PCA` (defaults: standardise, keep every component, weight
//! by explained-variance ratio). The score of a row is the sum over components of its
//! Euclidean distance to the (unit, sign-fixed) component vector taken as a point, divided by
//! the component's share of the variance, so low-variance directions weigh most.

use serde::{Deserialize, Serialize};

use super::distance::{Columns, add_squared_differences, vectorised};
use super::eigen::symmetric_eigen;
use super::{DetectError, Detector, Features};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PcaParams {
    /// Components kept (the largest); all when unset.
    pub n_components: Option<usize>,
    /// Of those, how many of the smallest are used for scoring; all when unset.
    pub n_selected_components: Option<usize>,
    /// Divide each distance by the component's explained-variance ratio.
    pub weighted: bool,
    /// Standardise features with the training mean and standard deviation first.
    pub standardization: bool,
}

impl Default for PcaParams {
    fn default() -> Self {
        Self {
            n_components: None,
            n_selected_components: None,
            weighted: true,
            standardization: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcaModel {
    #[serde(with = "super::codec::floats")]
    pub mean: Vec<f64>,
    #[serde(with = "super::codec::floats")]
    pub scale: Vec<f64>,
    /// Selected components, one unit vector each.
    #[serde(with = "super::codec::float_rows")]
    pub components: Vec<Vec<f64>>,
    /// Divisor of each selected component's distance.
    #[serde(with = "super::codec::floats")]
    pub weights: Vec<f64>,
}

impl Detector for PcaParams {
    type Model = PcaModel;

    fn fit(&self, train: &Features) -> Result<(PcaModel, Vec<f64>), DetectError> {
        vectorised(
            #[inline(always)]
            || self.fit_columns(train),
        )
    }

    fn score(model: &PcaModel, rows: &Features) -> Vec<f64> {
        vectorised(
            #[inline(always)]
            || {
                let z = standardised_columns(
                    &Columns::of(&rows.x),
                    rows.x.rows(),
                    &model.mean,
                    &model.scale,
                );
                model.score_columns(&z, rows.x.rows())
            },
        )
    }
}

impl PcaParams {
    #[inline(always)]
    fn fit_columns(&self, train: &Features) -> Result<(PcaModel, Vec<f64>), DetectError> {
        let x = &train.x;
        let (n, p) = (x.rows(), x.cols());
        if n < 2 {
            return Err(DetectError::NotEnoughRows { needed: 2, got: n });
        }
        let columns = Columns::of(x);
        let (mean, scale) = if self.standardization {
            standard_scaler(&columns, p)
        } else {
            (vec![0.0; p], vec![1.0; p])
        };
        let z = standardised_columns(&columns, n, &mean, &scale);
        let column = |i: usize| &z[i * n..(i + 1) * n];

        // Covariance of the standardised rows, as scikit-learn's "covariance_eigh" solver.
        let m: Vec<f64> = (0..p)
            .map(|i| column(i).iter().sum::<f64>() / n as f64)
            .collect();
        let mut c = vec![0.0; p * p];
        for i in 0..p {
            for j in i..p {
                let s = dot(column(i), column(j));
                let v = (s - n as f64 * m[i] * m[j]) / (n - 1) as f64;
                c[i * p + j] = v;
                c[j * p + i] = v;
            }
        }

        let eig = symmetric_eigen(&c, p);
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_by(|&a, &b| eig.values[b].total_cmp(&eig.values[a]));
        let values: Vec<f64> = order.iter().map(|&i| eig.values[i].max(0.0)).collect();
        let vectors: Vec<Vec<f64>> = order.iter().map(|&i| sign_fixed(&eig.vectors[i])).collect();
        let total: f64 = values.iter().sum();
        let ratios: Vec<f64> = values.iter().map(|v| v / total).collect();

        let kept = self.n_components.unwrap_or(p.min(n)).min(p);
        if kept == 0 {
            return Err(DetectError::Params(
                "n_components must be at least 1".into(),
            ));
        }
        let selected = self.n_selected_components.unwrap_or(kept);
        if selected == 0 || selected > kept {
            return Err(DetectError::Params(format!(
                "n_selected_components must be between 1 and n_components ({kept}), got {selected}"
            )));
        }
        let range = kept - selected..kept;
        let model = PcaModel {
            mean,
            scale,
            components: vectors[range.clone()].to_vec(),
            weights: if self.weighted {
                ratios[range].to_vec()
            } else {
                vec![1.0; selected]
            },
        };
        let scores = model.score_columns(&z, n);
        Ok((model, scores))
    }
}

impl PcaModel {
    /// Scores of the `n` standardised rows held column by column in `z`: per row, the sum over
    /// components of the distance to the component vector divided by its weight.
    #[inline(always)]
    fn score_columns(&self, z: &[f64], n: usize) -> Vec<f64> {
        let mut scores = vec![0.0; n];
        let mut d2 = vec![0.0; n];
        for (v, w) in self.components.iter().zip(&self.weights) {
            for (c, &vc) in v.iter().enumerate() {
                add_squared_differences(&mut d2, &z[c * n..(c + 1) * n], vc, c == 0);
            }
            for (s, d) in scores.iter_mut().zip(&d2) {
                *s += d.sqrt() / w;
            }
        }
        scores
    }
}

/// Σ a·b with eight running sums, which vectorise.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0.0; 8];
    let mut ac = a.chunks_exact(8);
    let mut bc = b.chunks_exact(8);
    for (x, y) in ac.by_ref().zip(bc.by_ref()) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    let tail: f64 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    lanes.iter().sum::<f64>() + tail
}

/// Mean and standard deviation per column as scikit-learn's StandardScaler computes them
/// (population variance with a correction term; constant columns get a scale of 1).
fn standard_scaler(columns: &Columns, cols: usize) -> (Vec<f64>, Vec<f64>) {
    (0..cols)
        .map(|j| {
            let col = columns.get(j);
            let n = col.len() as f64;
            let mean = col.iter().sum::<f64>() / n;
            let correction: f64 = col.iter().map(|v| v - mean).sum();
            let sq: f64 = col.iter().map(|v| (v - mean) * (v - mean)).sum();
            let var = (sq - correction * correction / n) / n;
            let constant = var <= n * f64::EPSILON * var + (n * mean * f64::EPSILON).powi(2);
            (mean, if constant { 1.0 } else { var.sqrt() })
        })
        .unzip()
}

/// `(x - mean) / scale`, column by column into one buffer.
#[inline(always)]
fn standardised_columns(columns: &Columns, rows: usize, mean: &[f64], scale: &[f64]) -> Vec<f64> {
    let mut z = Vec::with_capacity(rows * mean.len());
    for (c, (m, s)) in mean.iter().zip(scale).enumerate() {
        z.extend(columns.get(c).iter().map(|v| (v - m) / s));
    }
    z
}

/// scikit-learn's `svd_flip` for components: the largest-magnitude entry is made positive.
fn sign_fixed(v: &[f64]) -> Vec<f64> {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if x.abs() > v[best].abs() {
            best = i;
        }
    }
    if v.get(best).is_some_and(|x| *x < 0.0) {
        v.iter().map(|x| -x).collect()
    } else {
        v.to_vec()
    }
}
