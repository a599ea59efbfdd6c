//! Walk-forward replay of one series through a batch's detection settings, causally: models
//! are trained on the rows before the current one (retrained every `retrain_every` rows),
//! each row is scored on its own, and the alert rule runs on the scores so far, exactly as
//! the train, score and alert jobs would have seen them.

use crate::config::BatchSpec;
use crate::detect::{
    Combination, DetectorSpec, Features, Preprocess, RowScorer, TrainedModel, combine,
};
use crate::jobs::rules::{AlertRule, alert_decisions};

/// What a replay needs from a batch config.
#[derive(Debug, Clone)]
pub struct ReplaySettings {
    pub preprocess: Preprocess,
    pub detectors: Vec<(String, DetectorSpec)>,
    pub combination: Combination,
    pub rule: AlertRule,
    pub train_max_n: usize,
    pub train_min_n: usize,
    /// Training rows older than this (seconds before the current row) are left out.
    pub train_max_age: i64,
    pub retrain_every: usize,
}

impl ReplaySettings {
    pub fn from_batch(spec: &BatchSpec, retrain_every: usize) -> Result<Self, String> {
        Ok(Self {
            preprocess: spec.preprocess(),
            detectors: spec.detectors()?,
            combination: spec.combination(),
            rule: AlertRule {
                smooth_n: spec.alert_smooth_n as usize,
                threshold: spec.alert_threshold,
                recent_n: 1,
                snooze_n: spec.alert_snooze_n as usize,
                always: spec.alert_always,
            },
            train_max_n: spec.train_max_n as usize,
            train_min_n: spec.train_min_n as usize,
            train_max_age: i64::from(spec.train_metric_timestamp_max_days_ago) * 86_400,
            retrain_every: retrain_every.max(1),
        })
    }
}

/// One output row per input point, in input order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayRow {
    /// Combined outlier probability; 0 before the first model (or where no model answers).
    pub score: f64,
    pub alert: bool,
}

/// Replays `points` (unix seconds, value) given in file order. Timestamps that repeat or go
/// backwards are nudged one second past their predecessor, so rows keep their file order.
pub fn replay(points: &[(i64, f64)], s: &ReplaySettings) -> Vec<ReplayRow> {
    let mut out = vec![
        ReplayRow {
            score: 0.0,
            alert: false,
        };
        points.len()
    ];
    let mut monotonic = Vec::with_capacity(points.len());
    let mut last = i64::MIN;
    for &(t, v) in points {
        let t = if t <= last { last + 1 } else { t };
        monotonic.push((t, v));
        last = t;
    }
    let Ok(features) = s.preprocess.apply(&monotonic) else {
        return out;
    };
    let times: Vec<i64> = monotonic.iter().map(|p| p.0).collect();
    let point_of: Vec<Option<usize>> = features
        .timestamps
        .iter()
        .map(|t| times.binary_search(t).ok())
        .collect();

    let rows = features.x.rows();
    let mut scores: Vec<f64> = Vec::with_capacity(rows);
    let mut alerts: Vec<bool> = Vec::with_capacity(rows);
    let tail = s.rule.smooth_n.max(1) + s.rule.snooze_n + 1;
    let mut k = 0;
    while k < rows {
        let end = (k + s.retrain_every).min(rows);
        let models = train_models(&features, &point_of, k, s);
        let mut scorers: Vec<Box<dyn RowScorer + '_>> = models.iter().map(|m| m.scorer()).collect();
        for r in k..end {
            let row = features_row(&features, r);
            let probabilities: Vec<f64> = models
                .iter()
                .zip(scorers.iter_mut())
                .map(|(m, scorer)| {
                    let raw = scorer.score(&row);
                    raw.first()
                        .map_or(f64::NAN, |v| m.score_range.probability(*v))
                })
                .collect();
            let score = if probabilities.is_empty() {
                f64::NAN
            } else {
                combine(s.combination, &probabilities)
            };
            scores.push(score);
            alerts.push(false);
            let from = scores.len().saturating_sub(tail);
            let decided = alert_decisions(&s.rule, &scores[from..], &alerts[from..]);
            if decided
                .last()
                .is_some_and(|&i| from + i == scores.len() - 1)
                && let Some(a) = alerts.last_mut()
            {
                *a = true;
            }
            if let Some(p) = point_of[r] {
                out[p] = ReplayRow {
                    score: if score.is_nan() { 0.0 } else { score },
                    alert: alerts[r],
                };
            }
        }
        k = end;
    }
    out
}

/// Models fitted on the feature rows before `k`, within the training window; none while there
/// is not enough history (as the train job skips young metrics).
fn train_models(
    features: &Features,
    point_of: &[Option<usize>],
    k: usize,
    s: &ReplaySettings,
) -> Vec<TrainedModel> {
    let Some(&now) = features.timestamps.get(k) else {
        return Vec::new();
    };
    let points_before = point_of.get(k).copied().flatten().unwrap_or(0);
    if points_before < s.train_min_n.max(1) || k == 0 {
        return Vec::new();
    }
    let start = k.saturating_sub(s.train_max_n);
    let start = (start..k)
        .find(|&i| now - features.timestamps[i] <= s.train_max_age)
        .unwrap_or(k);
    if start >= k {
        return Vec::new();
    }
    let idx: Vec<usize> = (start..k).collect();
    let train = Features {
        x: features.x.select_rows(&idx),
        timestamps: features.timestamps[start..k].to_vec(),
        values: features.values[start..k].to_vec(),
    };
    s.detectors
        .iter()
        .filter_map(|(_, spec)| TrainedModel::train(spec, s.preprocess, &train, now).ok())
        .collect()
}

fn features_row(features: &Features, r: usize) -> Features {
    Features {
        x: features.x.select_rows(&[r]),
        timestamps: vec![features.timestamps[r]],
        values: vec![features.values[r]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{KnnParams, PcaParams};

    fn settings() -> ReplaySettings {
        ReplaySettings {
            preprocess: Preprocess::default(),
            detectors: vec![
                ("pca".into(), DetectorSpec::Pca(PcaParams::default())),
                ("knn".into(), DetectorSpec::Knn(KnnParams::default())),
            ],
            combination: Combination::Mean,
            rule: AlertRule {
                smooth_n: 1,
                threshold: 0.9,
                recent_n: 1,
                snooze_n: 3,
                always: false,
            },
            train_max_n: 2500,
            train_min_n: 14,
            train_max_age: 90 * 86_400,
            retrain_every: 50,
        }
    }

    #[test]
    fn a_spike_alerts_once_and_nothing_is_scored_before_training() {
        let mut s: u64 = 5;
        let mut points: Vec<(i64, f64)> = (0..600)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (i * 300, ((s >> 11) as f64 / (1u64 << 53) as f64))
            })
            .collect();
        points[500].1 += 50.0;
        let out = replay(&points, &settings());
        assert_eq!(out.len(), 600);
        assert!(out[..20].iter().all(|r| r.score == 0.0 && !r.alert));
        assert!(out[500].alert, "the spike alerts");
        assert!(!out[501].alert && !out[502].alert, "then snoozes");
        let false_alerts = out
            .iter()
            .enumerate()
            .filter(|(i, r)| r.alert && !(500..=510).contains(i))
            .count();
        assert!(false_alerts <= 3, "{false_alerts} alerts on noise");
    }

    #[test]
    fn repeated_timestamps_keep_file_order() {
        let points: Vec<(i64, f64)> = (0..100)
            .map(|i| (if i < 50 { i } else { 10 } * 60, i as f64))
            .collect();
        let out = replay(&points, &settings());
        assert_eq!(out.len(), 100);
    }
}
