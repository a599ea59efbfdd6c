//! Feature engineering, as the original Anomstack's default `preprocess`:
//! optional resampling → difference over `diff_n` periods → trailing mean of `smooth_n` →
//! `lags_n` lagged copies → drop rows with any gap. Every parameter 0 turns its step off.
//!
//! With the defaults (1, 3, 5) the row for time t is `[s_t, s_{t-1}, …, s_{t-5}]` where `s` is
//! the 3-point trailing mean of first differences, and the first 8 points yield no row.

use serde::{Deserialize, Serialize};

use super::{DetectError, Matrix};

/// How to aggregate points that fall in one resampling bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    Mean,
    Sum,
}

/// Preprocessing settings: `preprocess_params` of a batch, in plain numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    pub diff_n: usize,
    pub smooth_n: usize,
    pub lags_n: usize,
    /// Resampling bucket in seconds, if any.
    pub resample_seconds: Option<i64>,
    pub aggregation: Aggregation,
    /// Subtract each row's mean from it, so a row describes the shape of the recent window
    /// rather than its level (level shifts and trends stop looking new once they are past).
    #[serde(default)]
    pub center: bool,
}

impl Default for Preprocess {
    fn default() -> Self {
        Self {
            diff_n: 1,
            smooth_n: 3,
            lags_n: 5,
            resample_seconds: None,
            aggregation: Aggregation::Mean,
            center: false,
        }
    }
}

/// The output of preprocessing: one feature row per usable timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Columns: the transformed value, then `lag_1` … `lag_n`.
    pub x: Matrix,
    /// Unix seconds of each row.
    pub timestamps: Vec<i64>,
    /// The (resampled) value before differencing, for each row; detectors that model the level
    /// of a series (forecast bands) use it.
    pub values: Vec<f64>,
}

impl Features {
    /// The rows at `idx`, in that order.
    pub fn rows(&self, idx: &[usize]) -> Features {
        Features {
            x: self.x.select_rows(idx),
            timestamps: idx.iter().map(|&i| self.timestamps[i]).collect(),
            values: idx.iter().map(|&i| self.values[i]).collect(),
        }
    }
}

impl Preprocess {
    /// Number of leading points that yield no row (without resampling gaps).
    pub fn warmup(&self) -> usize {
        self.diff_n
            .saturating_add(self.smooth_n.saturating_sub(1))
            .saturating_add(self.lags_n)
    }

    pub fn columns(&self) -> usize {
        self.lags_n + 1
    }

    /// Builds features from `(unix seconds, value)` points in any order. Non-finite values
    /// count as gaps.
    pub fn apply(&self, points: &[(i64, f64)]) -> Result<Features, DetectError> {
        let mut sorted = points.to_vec();
        sorted.sort_by_key(|(t, _)| *t);
        let (ts, raw): (Vec<i64>, Vec<f64>) = match self.resample_seconds {
            Some(step) if step > 0 => resample(&sorted, step, self.aggregation),
            Some(step) => {
                return Err(DetectError::Params(format!(
                    "resampling step must be positive, got {step}"
                )));
            }
            None => sorted
                .into_iter()
                .map(|(t, v)| (t, if v.is_finite() { v } else { f64::NAN }))
                .unzip(),
        };

        let diffed = if self.diff_n > 0 {
            (0..raw.len())
                .map(|i| {
                    if i >= self.diff_n {
                        raw[i] - raw[i - self.diff_n]
                    } else {
                        f64::NAN
                    }
                })
                .collect()
        } else {
            raw.clone()
        };
        let smoothed = if self.smooth_n > 0 {
            trailing_mean(&diffed, self.smooth_n)
        } else {
            diffed
        };

        let cols = self.columns();
        // Rows whose window holds no gap. When they are one unbroken stretch (the usual case)
        // and not centred, they are lag windows of one stretch of the series, which the matrix
        // keeps; otherwise the rows are copied out one by one.
        // Huge values can overflow to infinities in differencing, smoothing or resampling:
        // a window holding one is a gap too, so no detector ever sees a non-finite feature.
        let mut kept: Vec<usize> = (self.lags_n..smoothed.len())
            .filter(|&t| smoothed[t - self.lags_n..=t].iter().all(|v| v.is_finite()))
            .collect();
        let unbroken = kept
            .first()
            .zip(kept.last())
            .is_some_and(|(first, last)| last - first + 1 == kept.len());
        let x = if unbroken && !self.center && cols >= 2 {
            let (first, last) = (kept[0], kept[kept.len() - 1]);
            Matrix::from_lag_series(&smoothed[first - self.lags_n..=last], kept.len(), cols)?
        } else {
            let mut data = Vec::with_capacity(kept.len() * cols);
            kept.retain(|&t| {
                let start = data.len();
                data.extend((0..cols).map(|lag| smoothed[t - lag]));
                if self.center {
                    let row = &mut data[start..];
                    let n = row.len() as f64;
                    let mean = row.iter().map(|v| v / n).sum::<f64>();
                    for v in row.iter_mut() {
                        *v -= mean;
                    }
                    if row.iter().any(|v| !v.is_finite()) {
                        data.truncate(start);
                        return false;
                    }
                }
                true
            });
            Matrix::new(kept.len(), cols, data)?
        };
        let row_ts = kept.iter().map(|&t| ts[t]).collect();
        let row_values = kept.iter().map(|&t| raw[t]).collect();
        Ok(Features {
            x,
            timestamps: row_ts,
            values: row_values,
        })
    }
}

/// Features of one metric's points for each distinct preprocessing, computed once: the
/// models of a metric usually share their preprocessing.
pub struct FeatureCache<'a> {
    points: &'a [(i64, f64)],
    done: Vec<(Preprocess, Result<Features, DetectError>)>,
}

impl<'a> FeatureCache<'a> {
    pub fn new(points: &'a [(i64, f64)]) -> Self {
        Self {
            points,
            done: Vec::new(),
        }
    }

    pub fn get(&mut self, preprocess: &Preprocess) -> Result<&Features, DetectError> {
        let at = match self.done.iter().position(|(p, _)| p == preprocess) {
            Some(at) => at,
            None => {
                self.done.push((*preprocess, preprocess.apply(self.points)));
                self.done.len() - 1
            }
        };
        self.done[at].1.as_ref().map_err(Clone::clone)
    }
}

/// Trailing mean over `window` values; NaN until the window is full or when it holds a gap.
fn trailing_mean(values: &[f64], window: usize) -> Vec<f64> {
    (0..values.len())
        .map(|i| {
            if i + 1 < window {
                return f64::NAN;
            }
            let slice = &values[i + 1 - window..=i];
            slice.iter().sum::<f64>() / window as f64
        })
        .collect()
}

/// Most buckets one resampled series keeps (the newest).
const MAX_BUCKETS: i64 = 200_000;

/// Buckets of `step` seconds aligned to midnight UTC of the first day (pandas' default
/// origin), every bucket from the first to the last; empty buckets are gaps.
fn resample(points: &[(i64, f64)], step: i64, agg: Aggregation) -> (Vec<i64>, Vec<f64>) {
    let Some(&(first, _)) = points.first() else {
        return (Vec::new(), Vec::new());
    };
    let origin = first.div_euclid(86_400) * 86_400;
    let bucket_of = |t: i64| origin + (t - origin).div_euclid(step) * step;
    let last = points.last().map_or(first, |p| p.0);
    // A fine `freq` over a long span (1 s over a year) would allocate millions of empty
    // buckets: keep the newest MAX_BUCKETS, which is more than any model window uses.
    let span = (bucket_of(last) - bucket_of(first)).max(0) / step + 1;
    let n = span.min(MAX_BUCKETS) as usize;
    let base = bucket_of(last) - (n as i64 - 1) * step;
    let mut sums = vec![0.0; n];
    let mut counts = vec![0usize; n];
    for &(t, v) in points {
        let bucket = bucket_of(t);
        if !v.is_finite() || bucket < base {
            continue;
        }
        let i = ((bucket - base) / step) as usize;
        if let (Some(s), Some(c)) = (sums.get_mut(i), counts.get_mut(i)) {
            *s += v;
            *c += 1;
        }
    }
    let ts = (0..n).map(|i| base + i as i64 * step).collect();
    let values = sums
        .iter()
        .zip(&counts)
        .map(|(&s, &c)| match (c, agg) {
            (0, _) => f64::NAN,
            (_, Aggregation::Sum) => s,
            (c, Aggregation::Mean) => s / c as f64,
        })
        .collect();
    (ts, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fine_resample_over_a_long_span_keeps_the_newest_buckets() {
        // One-second buckets over a year: 31.5 M buckets without the cap.
        let year = 365 * 86_400;
        let points = [(0, 1.0), (year - 1, 2.0), (year, 3.0)];
        let (ts, values) = resample(&points, 1, Aggregation::Mean);
        assert_eq!(ts.len(), MAX_BUCKETS as usize);
        assert_eq!(ts.last(), Some(&year));
        assert_eq!(&values[values.len() - 2..], &[2.0, 3.0]);
        assert!(values[..values.len() - 2].iter().all(|v| v.is_nan()));
    }

    fn series(values: &[f64]) -> Vec<(i64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as i64 * 300, v))
            .collect()
    }

    #[test]
    fn unbroken_lag_rows_know_their_series() {
        let values: Vec<f64> = (0..30).map(|i| ((i * i) % 17) as f64).collect();
        let f = Preprocess::default().apply(&series(&values)).unwrap();
        let lags = f.x.known_lags().unwrap().to_vec();
        assert_eq!(
            Matrix::new(f.x.rows(), f.x.cols(), f.x.data().to_vec())
                .unwrap()
                .lag_series()
                .unwrap(),
            lags.as_slice()
        );
        // A gap splits the rows: no single series.
        let mut gapped = values.clone();
        gapped[15] = f64::NAN;
        let f = Preprocess::default().apply(&series(&gapped)).unwrap();
        assert!(f.x.known_lags().is_none());
        assert!(f.x.lag_series().is_none());
    }

    #[test]
    fn values_that_overflow_in_a_transformation_become_gaps() {
        let mut values: Vec<f64> = (0..40).map(|i| (i % 7) as f64).collect();
        values[10] = f64::MAX;
        values[11] = -f64::MAX;
        values[25] = 1e308;
        values[26] = 1e308;
        for p in [
            Preprocess::default(),
            Preprocess {
                center: true,
                diff_n: 0,
                ..Preprocess::default()
            },
            Preprocess {
                resample_seconds: Some(600),
                aggregation: Aggregation::Sum,
                diff_n: 0,
                smooth_n: 0,
                ..Preprocess::default()
            },
        ] {
            let f = p.apply(&series(&values)).unwrap();
            assert!(f.x.rows() > 0, "{p:?}");
            assert!(f.x.data().iter().all(|v| v.is_finite()), "{p:?}");
            assert_eq!(f.timestamps.len(), f.x.rows());
        }
    }

    #[test]
    fn the_cache_preprocesses_once_per_setting() {
        let points = series(&[1.0, 2.0, 4.0, 7.0, 11.0, 16.0, 22.0, 29.0, 37.0, 46.0]);
        let mut cache = FeatureCache::new(&points);
        let plain = Preprocess {
            diff_n: 0,
            smooth_n: 0,
            lags_n: 0,
            ..Preprocess::default()
        };
        assert_eq!(cache.get(&plain).unwrap(), &plain.apply(&points).unwrap());
        let defaults = Preprocess::default();
        assert_eq!(
            cache.get(&defaults).unwrap(),
            &defaults.apply(&points).unwrap()
        );
        assert_eq!(cache.get(&plain).unwrap().x.rows(), 10);
        assert_eq!(cache.done.len(), 2);
    }

    #[test]
    fn defaults_drop_eight_warmup_points() {
        let values: Vec<f64> = (0..20).map(|i| (i * i) as f64).collect();
        let f = Preprocess::default().apply(&series(&values)).unwrap();
        assert_eq!(f.x.rows(), 12);
        assert_eq!(f.x.cols(), 6);
        assert_eq!(f.timestamps[0], 8 * 300);
        // d_t = 2t - 1; s_t = mean(d_t, d_{t-1}, d_{t-2}) = 2t - 3
        assert_eq!(f.x.row(0), &[13.0, 11.0, 9.0, 7.0, 5.0, 3.0]);
        assert_eq!(f.values[0], 64.0);
    }

    #[test]
    fn every_step_can_be_switched_off() {
        let p = Preprocess {
            diff_n: 0,
            smooth_n: 0,
            lags_n: 0,
            ..Preprocess::default()
        };
        let f = p.apply(&series(&[3.0, 1.0, 2.0])).unwrap();
        assert_eq!(f.x.data(), &[3.0, 1.0, 2.0]);
    }

    #[test]
    fn diff_n_is_a_difference_over_that_many_periods() {
        let p = Preprocess {
            diff_n: 2,
            smooth_n: 0,
            lags_n: 0,
            ..Preprocess::default()
        };
        let f = p.apply(&series(&[1.0, 5.0, 4.0, 10.0])).unwrap();
        assert_eq!(f.x.data(), &[3.0, 5.0]);
    }

    #[test]
    fn points_are_sorted_and_gaps_drop_their_rows() {
        let mut pts = series(&[1.0, 2.0, f64::NAN, 4.0, 5.0, 6.0]);
        pts.reverse();
        let p = Preprocess {
            diff_n: 1,
            smooth_n: 0,
            lags_n: 0,
            ..Preprocess::default()
        };
        let f = p.apply(&pts).unwrap();
        assert_eq!(f.x.data(), &[1.0, 1.0, 1.0]);
        assert_eq!(f.timestamps, vec![300, 1200, 1500]);
    }

    #[test]
    fn resampling_buckets_from_midnight_with_mean_or_sum() {
        // 10-minute buckets; points at 00:01, 00:05, 00:12, 00:31 (00:20 bucket empty).
        let pts = vec![(60, 1.0), (300, 3.0), (720, 5.0), (1860, 7.0)];
        let p = Preprocess {
            diff_n: 0,
            smooth_n: 0,
            lags_n: 0,
            resample_seconds: Some(600),
            aggregation: Aggregation::Mean,
            center: false,
        };
        let f = p.apply(&pts).unwrap();
        assert_eq!(f.timestamps, vec![0, 600, 1800]);
        assert_eq!(f.x.data(), &[2.0, 5.0, 7.0]);
        let f = Preprocess {
            aggregation: Aggregation::Sum,
            ..p
        }
        .apply(&pts)
        .unwrap();
        assert_eq!(f.x.data(), &[4.0, 5.0, 7.0]);
    }
}
