//! Isolation forest, as scikit-learn's `IsolationForest` wrapped by PyOD's `IForest`: random
//! trees split on a random feature at a random value until a point is isolated or the depth
//! limit `ceil(log2(max_samples))` is reached; points isolated in few splits are outliers.
//! Raw score = `2^(−mean path length / c(max_samples))` minus its 99th percentile over the
//! training rows, as PyOD reports it. The trees come from our own seeded generator, so values
//! differ from scikit-learn's while rankings agree.

use serde::{Deserialize, Serialize};

use super::rng::Rng;
use super::stats::percentile;
use super::{DetectError, Detector, Features, Matrix};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IForestParams {
    pub n_estimators: usize,
    /// Rows per tree: `None` is "auto", min(256, n).
    pub max_samples: Option<MaxSamples>,
    /// Fraction (0, 1] of the features each tree may split on.
    pub max_features: f64,
    pub bootstrap: bool,
    pub random_state: u64,
}

/// PyOD's `max_samples`: a row count, or a fraction of the training rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MaxSamples {
    Count(usize),
    Fraction(f64),
}

impl Default for IForestParams {
    fn default() -> Self {
        Self {
            n_estimators: 100,
            max_samples: None,
            max_features: 1.0,
            bootstrap: false,
            random_state: 42,
        }
    }
}

/// Trees stored as parallel arrays; `feature < 0` marks a leaf whose `value` is its path
/// length contribution (depth + c(leaf size)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub feature: Vec<i16>,
    #[serde(with = "super::codec::floats")]
    pub value: Vec<f64>,
    pub left: Vec<u32>,
    pub right: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IForestModel {
    pub trees: Vec<Tree>,
    pub max_samples: usize,
    /// The 99th percentile of the training isolation scores.
    #[serde(with = "super::codec::float")]
    pub offset: f64,
}

impl Detector for IForestParams {
    type Model = IForestModel;

    fn fit(&self, train: &Features) -> Result<(IForestModel, Vec<f64>), DetectError> {
        let x = &train.x;
        let n = x.rows();
        if n < 2 {
            return Err(DetectError::NotEnoughRows { needed: 2, got: n });
        }
        if self.n_estimators == 0 {
            return Err(DetectError::Params(
                "n_estimators must be at least 1".into(),
            ));
        }
        if !(self.max_features > 0.0 && self.max_features <= 1.0) {
            return Err(DetectError::Params(format!(
                "max_features must be in (0, 1], got {}",
                self.max_features
            )));
        }
        let max_samples = match self.max_samples {
            None => n.min(256),
            Some(MaxSamples::Count(c)) => c.clamp(1, n),
            Some(MaxSamples::Fraction(f)) if f > 0.0 && f <= 1.0 => {
                ((f * n as f64) as usize).max(1)
            }
            Some(MaxSamples::Fraction(f)) => {
                return Err(DetectError::Params(format!(
                    "max_samples as a fraction must be in (0, 1], got {f}"
                )));
            }
        };
        let depth_limit = (max_samples as f64).log2().ceil().max(1.0) as usize;
        let n_features = ((self.max_features * x.cols() as f64) as usize).clamp(1, x.cols());
        let mut rng = Rng::seeded(self.random_state);
        let trees = (0..self.n_estimators)
            .map(|_| {
                let rows = if self.bootstrap {
                    (0..max_samples).map(|_| rng.below(n)).collect()
                } else {
                    rng.sample(n, max_samples)
                };
                let features = rng.sample(x.cols(), n_features);
                build_tree(x, rows, &features, depth_limit, &mut rng)
            })
            .collect();
        let mut model = IForestModel {
            trees,
            max_samples,
            offset: 0.0,
        };
        let raw = model.isolation_scores(x);
        model.offset = percentile(&raw, 99.0);
        let scores = raw.iter().map(|s| s - model.offset).collect();
        Ok((model, scores))
    }

    fn score(model: &IForestModel, rows: &Features) -> Vec<f64> {
        model
            .isolation_scores(&rows.x)
            .into_iter()
            .map(|s| s - model.offset)
            .collect()
    }
}

impl IForestModel {
    fn isolation_scores(&self, x: &Matrix) -> Vec<f64> {
        let norm = self.trees.len() as f64 * average_path_length(self.max_samples);
        x.iter_rows()
            .map(|row| {
                let total: f64 = self.trees.iter().map(|t| path_length(t, row)).sum();
                2f64.powf(-total / norm)
            })
            .collect()
    }
}

fn path_length(tree: &Tree, row: &[f64]) -> f64 {
    let mut node = 0usize;
    loop {
        let f = tree.feature[node];
        if f < 0 {
            return tree.value[node];
        }
        node = if row[f as usize] <= tree.value[node] {
            tree.left[node] as usize
        } else {
            tree.right[node] as usize
        };
    }
}

/// c(n): the average path length of an unsuccessful search in a binary search tree of n keys.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

fn build_tree(
    x: &Matrix,
    rows: Vec<usize>,
    features: &[usize],
    depth_limit: usize,
    rng: &mut Rng,
) -> Tree {
    let mut tree = Tree {
        feature: Vec::new(),
        value: Vec::new(),
        left: Vec::new(),
        right: Vec::new(),
    };
    // Depth-first with an explicit stack: (node id, rows, depth).
    let mut stack = vec![(0usize, rows, 0usize)];
    push_node(&mut tree);
    while let Some((id, rows, depth)) = stack.pop() {
        let split = if rows.len() < 2 || depth >= depth_limit {
            None
        } else {
            choose_split(x, &rows, features, rng)
        };
        match split {
            None => {
                tree.feature[id] = -1;
                tree.value[id] = depth as f64 + average_path_length(rows.len());
            }
            Some((f, threshold)) => {
                let (l, r): (Vec<usize>, Vec<usize>) =
                    rows.iter().partition(|&&i| x.row(i)[f] <= threshold);
                let left = push_node(&mut tree);
                let right = push_node(&mut tree);
                tree.feature[id] = f as i16;
                tree.value[id] = threshold;
                tree.left[id] = left as u32;
                tree.right[id] = right as u32;
                stack.push((right, r, depth + 1));
                stack.push((left, l, depth + 1));
            }
        }
    }
    tree
}

fn push_node(tree: &mut Tree) -> usize {
    tree.feature.push(-1);
    tree.value.push(0.0);
    tree.left.push(0);
    tree.right.push(0);
    tree.feature.len() - 1
}

/// A random non-constant feature (tried in random order) and a uniform threshold in
/// [min, max) of it; `None` when every allowed feature is constant in this node.
fn choose_split(
    x: &Matrix,
    rows: &[usize],
    features: &[usize],
    rng: &mut Rng,
) -> Option<(usize, f64)> {
    let mut candidates = features.to_vec();
    while !candidates.is_empty() {
        let f = candidates.swap_remove(rng.below(candidates.len()));
        let (lo, hi) = rows
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                let v = x.row(i)[f];
                (lo.min(v), hi.max(v))
            });
        if hi > lo {
            let mut t = lo + rng.next_f64() * (hi - lo);
            if t >= hi {
                t = lo;
            }
            return Some((f, t));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_path_length_matches_the_formula() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        assert!((average_path_length(256) - 10.244_770_920_119_917).abs() < 1e-12);
    }
}
