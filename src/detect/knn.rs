//! KNN outlier detector, as PyOD's `KNN`: the score of a row is its distance to its k-th
//! nearest training row (`largest`, the default), or the mean or median of the distances to
//! its k nearest. A training row's own score leaves the row itself out (once).

use serde::{Deserialize, Serialize};

use super::distance::{Columns, add_squared_differences, vectorised};
use super::kdtree::KdIndex;
use super::lagknn::LagSeries;
use super::select::k_smallest;
use super::stats::median;
use super::{
    DetectError, Detector, Features, Matrix, RowScorer, ScoreMethod, ScoreRange, TrainingScores,
};

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
    /// Score only every n-th training row (rows 0, n, 2n, …) to calibrate new scores
    /// against. Neighbouring rows' windows overlap almost entirely, so their scores are
    /// alike: 2 halves most of the training work (NAB DEV 57.90 with every row, 57.91 with
    /// every 2nd; BENCHMARKS.md). The training range, hence what counts as extreme, is the
    /// sampled rows' too.
    /// 1, every row, is PyOD's.
    pub score_every: usize,
}

impl Default for KnnParams {
    fn default() -> Self {
        Self {
            n_neighbors: 5,
            method: KnnMethod::Largest,
            exclude_within: 0,
            score_every: 1,
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
        let (k, w) = self.checked_window(train.x.rows())?;
        // Lag features: every row's neighbours in one pass with the sliding-window recurrence.
        if let Some(nearest) =
            LagSeries::detect(&train.x).and_then(|lag| lag.all_nearest(k, w, self.score_every))
        {
            let scores = nearest.chunks(k).map(|d| self.method.combine(d)).collect();
            return Ok((
                KnnModel {
                    params: self.clone(),
                    train: train.x.clone(),
                },
                scores,
            ));
        }
        let index = KdIndex::build(&train.x);
        let scores = train
            .x
            .iter_rows()
            .enumerate()
            .step_by(self.score_every)
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

    /// For the linear method only the smallest and largest training scores matter. With the
    /// default `largest` distance both are found exactly while skipping most of the work: a
    /// row is searched only until it is shown not to beat the current maximum, and a row with
    /// k neighbours closer than the current minimum is the only kind that can lower it.
    fn fit_for(
        &self,
        train: &Features,
        method: ScoreMethod,
    ) -> Result<(KnnModel, TrainingScores), DetectError> {
        if method != ScoreMethod::Linear || self.method != KnnMethod::Largest {
            let (model, scores) = self.fit(train)?;
            return Ok((model, TrainingScores::All(scores)));
        }
        let (k, w) = self.checked_window(train.x.rows())?;
        let model = KnnModel {
            params: self.clone(),
            train: train.x.clone(),
        };
        // Lag features (the usual case) are windows of one series: a pass over all pairs with
        // the sliding-window recurrence beats a tree in six or more dimensions. With very many
        // identical windows, or features that are not lags, the tree does it.
        if let Some((min, max)) =
            LagSeries::detect(&train.x).and_then(|lag| lag.kth_distance_range(k, w))
        {
            return Ok((model, TrainingScores::Range(ScoreRange { min, max })));
        }
        let index = KdIndex::build(&train.x);
        let n = train.x.rows();
        // Each row's leaf bounds its k-th distance from above and below; only rows whose
        // bounds could beat the running maximum or minimum are searched, best candidates first.
        let bounds = index.leaf_bounds(k, |i, j| j.abs_diff(i) <= w);
        let mut by_upper: Vec<usize> = (0..n).collect();
        by_upper.sort_by(|&a, &b| bounds[b].upper2.total_cmp(&bounds[a].upper2));
        let mut max = 0.0f64;
        for &i in &by_upper {
            let b = bounds[i];
            if b.upper2.sqrt() <= max {
                break;
            }
            let d = if b.exact() {
                Some(b.upper2.sqrt())
            } else {
                index.kth_distance_at_least(train.x.row(i), k, |j| j.abs_diff(i) <= w, max)
            };
            if let Some(d) = d {
                max = max.max(d);
            }
        }
        let mut by_lower: Vec<usize> = (0..n).collect();
        by_lower.sort_by(|&a, &b| bounds[a].lower2.total_cmp(&bounds[b].lower2));
        let mut min = f64::INFINITY;
        for &i in &by_lower {
            let b = bounds[i];
            if b.lower2.sqrt() >= min {
                break;
            }
            let row = train.x.row(i);
            let skip = |j: usize| j.abs_diff(i) <= w;
            let d = if b.exact() {
                Some(b.upper2.sqrt())
            } else if min.is_infinite() || index.has_k_within(row, k, skip, min) {
                index.nearest_distances_except(row, k, skip).last().copied()
            } else {
                None
            };
            if let Some(d) = d {
                min = min.min(d);
            }
        }
        Ok((model, TrainingScores::Range(ScoreRange { min, max })))
    }
}

impl KnnParams {
    /// k, and the exclusion window: narrowed for a young metric, so that k rows remain to
    /// compare each row with.
    fn checked_window(&self, n: usize) -> Result<(usize, usize), DetectError> {
        let k = self.n_neighbors;
        if k == 0 {
            return Err(DetectError::Params("n_neighbors must be at least 1".into()));
        }
        if self.score_every == 0 {
            return Err(DetectError::Params("score_every must be at least 1".into()));
        }
        if n <= k {
            return Err(DetectError::NotEnoughRows {
                needed: k + 1,
                got: n,
            });
        }
        Ok((k, self.exclude_within.min((n - k - 1) / 2)))
    }
}

/// Scores with the neighbour index built once, when enough rows are scored to pay for it;
/// a handful of rows (a score job's window) are compared with every training row directly.
pub struct KnnScorer<'a> {
    model: &'a KnnModel,
    index: Option<KdIndex>,
}

/// Below this many rows per call, building a tree costs more than the brute-force search.
const BRUTE_FORCE_ROWS: usize = 64;

impl KnnModel {
    pub fn scorer(&self) -> KnnScorer<'_> {
        KnnScorer {
            model: self,
            index: None,
        }
    }
}

impl RowScorer for KnnScorer<'_> {
    fn score(&mut self, rows: &Features) -> Vec<f64> {
        let params = &self.model.params;
        let k = params.n_neighbors;
        if self.index.is_none() && rows.x.rows() < BRUTE_FORCE_ROWS {
            let nearest = vectorised(
                #[inline(always)]
                || brute_force(&self.model.train, &rows.x, k),
            );
            return nearest.iter().map(|d| params.method.combine(d)).collect();
        }
        let index = self
            .index
            .get_or_insert_with(|| KdIndex::build(&self.model.train));
        rows.x
            .iter_rows()
            .map(|row| params.method.combine(&index.nearest_distances(row, k)))
            .collect()
    }
}

/// For each query row, the k smallest distances to the rows of `train`, ascending, computed
/// as the tree computes them.
#[inline(always)]
fn brute_force(train: &Matrix, queries: &Matrix, k: usize) -> Vec<Vec<f64>> {
    let n = train.rows();
    let columns = Columns::of(train);
    let mut d2 = vec![0.0; n];
    let mut nearest = Vec::with_capacity(k * 8);
    queries
        .iter_rows()
        .map(|q| {
            for (c, &qc) in q.iter().enumerate() {
                add_squared_differences(&mut d2, columns.get(c), qc, c == 0);
            }
            if q.is_empty() {
                d2.fill(0.0);
            }
            k_smallest(&d2, k, &mut nearest);
            nearest.iter().map(|v| v.sqrt()).collect()
        })
        .collect()
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
