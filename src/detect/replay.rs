//! Walk-forward replay of one series through a batch's detection settings, causally: models
//! are trained on the rows before the current one (retrained every `retrain_every` rows),
//! each row is scored on its own, and the alert rule runs on the scores so far, exactly as
//! the train, score and alert jobs would have seen them.

use super::rules::{AlertPoint, AlertRule, alert_decisions};
use super::{
    Combination, DetectorSpec, Features, Preprocess, RowScorer, ScoreMethod, TrainedModel,
    combine_answers,
};

/// One model of a batch, ready to train: its tag, detector and preprocessing.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPlan {
    pub tag: String,
    pub detector: DetectorSpec,
    pub preprocess: Preprocess,
}

/// What a replay needs from a batch config (`BatchSpec::replay_settings`).
#[derive(Debug, Clone)]
pub struct ReplaySettings {
    pub models: Vec<ModelPlan>,
    pub combination: Combination,
    pub score_method: ScoreMethod,
    pub rule: AlertRule,
    pub train_max_n: usize,
    pub train_min_n: usize,
    /// Training rows older than this (seconds before the current row) are left out.
    pub train_max_age: i64,
    pub retrain_every: usize,
    /// `alert_extreme_margin`: how far beyond the training maximum a raw score is extreme.
    pub extreme_margin: Option<f64>,
}

/// One output row per input point, in input order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayRow {
    /// Combined outlier probability; 0 before the first model (or where no model answers).
    pub score: f64,
    /// Whether a model answered (false before the first model is trained).
    pub scored: bool,
    pub alert: bool,
}

/// Replays `points` (unix seconds, value) given in file order. Timestamps that repeat or go
/// backwards are nudged one second past their predecessor, so rows keep their file order.
pub fn replay(points: &[(i64, f64)], s: &ReplaySettings) -> Vec<ReplayRow> {
    let mut monotonic = Vec::with_capacity(points.len());
    let mut last = i64::MIN;
    for &(t, v) in points {
        let t = if t <= last { last + 1 } else { t };
        monotonic.push((t, v));
        last = t;
    }
    // Each model's probabilities per point, then combined point by point.
    let per_model: Vec<Vec<(f64, bool)>> = s
        .models
        .iter()
        .map(|plan| model_probabilities(&monotonic, plan, s))
        .collect();
    let mut scores: Vec<AlertPoint> = Vec::with_capacity(points.len());
    let mut alerts: Vec<bool> = Vec::with_capacity(points.len());
    let mut last_alert: Option<usize> = None;
    let mut out = Vec::with_capacity(points.len());
    // The points the rule looks at: smoothing and snooze, and the values a move is judged on.
    let tail = s
        .rule
        .smooth_n
        .max(1)
        .saturating_add(s.rule.snooze_n)
        .saturating_add(1)
        .max(super::rules::BASELINE_N + super::rules::MOVE_N);
    for p in 0..points.len() {
        let answers: Vec<(f64, bool)> = per_model.iter().map(|m| m[p]).collect();
        let (score, extreme) = combine_answers(s.combination, &answers);
        if score.is_nan() {
            out.push(ReplayRow {
                score: 0.0,
                scored: false,
                alert: false,
            });
            continue;
        }
        // Like the score job, points without a score are not part of the alert series.
        scores.push(AlertPoint {
            score,
            value: points[p].1,
            extreme,
        });
        alerts.push(false);
        // Re-arming looks back to the metric's last alert, however long ago.
        let mut from = scores.len().saturating_sub(tail);
        if s.rule.resolve_n > 0
            && let Some(last) = last_alert
        {
            from = from.min(last);
        }
        let decided = alert_decisions(&s.rule, &scores[from..], &alerts[from..]);
        let alert = decided
            .last()
            .is_some_and(|&i| from + i == scores.len() - 1);
        if let Some(a) = alerts.last_mut() {
            *a = alert;
        }
        if alert {
            last_alert = Some(alerts.len() - 1);
        }
        out.push(ReplayRow {
            score,
            scored: true,
            alert,
        });
    }
    out
}

/// One model's walk forward: trained every `retrain_every` points on the feature rows before
/// the current point, scoring each row on its own: its probability (NaN where it has no
/// score) and whether it is extreme.
fn model_probabilities(
    points: &[(i64, f64)],
    plan: &ModelPlan,
    s: &ReplaySettings,
) -> Vec<(f64, bool)> {
    let mut out = vec![(f64::NAN, false); points.len()];
    let Ok(features) = plan.preprocess.apply(points) else {
        return out;
    };
    let times: Vec<i64> = points.iter().map(|p| p.0).collect();
    let point_of: Vec<usize> = features
        .timestamps
        .iter()
        .map(|t| times.binary_search(t).unwrap_or(0))
        .collect();
    let rows = features.x.rows();
    let mut r = 0;
    while r < rows {
        // The segment of rows scored by one model: up to the next retraining point.
        let segment_end_point = (point_of[r] / s.retrain_every + 1) * s.retrain_every;
        let end = (r..rows)
            .find(|&i| point_of[i] >= segment_end_point)
            .unwrap_or(rows);
        if let Some(model) = train_model(&features, &point_of, r, plan, s) {
            let mut scorer: Box<dyn RowScorer + '_> = model.scorer();
            for i in r..end {
                let raw = scorer.score(&features_row(&features, i));
                out[point_of[i]] = raw.first().map_or((f64::NAN, false), |v| {
                    let extreme = s.extreme_margin.is_some_and(|m| model.is_extreme(*v, m));
                    (model.probability(*v), extreme)
                });
            }
        }
        r = end;
    }
    out
}

/// A model fitted on the feature rows before row `k`, within the training window; none while
/// there is not enough history (as the train job skips young metrics).
fn train_model(
    features: &Features,
    point_of: &[usize],
    k: usize,
    plan: &ModelPlan,
    s: &ReplaySettings,
) -> Option<TrainedModel> {
    let now = *features.timestamps.get(k)?;
    if point_of[k] < s.train_min_n.max(1) || k == 0 {
        return None;
    }
    let start = k.saturating_sub(s.train_max_n);
    let start = (start..k).find(|&i| now - features.timestamps[i] <= s.train_max_age)?;
    let idx: Vec<usize> = (start..k).collect();
    let train = Features {
        x: features.x.select_rows(&idx),
        timestamps: features.timestamps[start..k].to_vec(),
        values: features.values[start..k].to_vec(),
    };
    TrainedModel::train(&plan.detector, plan.preprocess, s.score_method, &train, now).ok()
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
        let plan = |tag: &str, detector| ModelPlan {
            tag: tag.into(),
            detector,
            preprocess: Preprocess::default(),
        };
        ReplaySettings {
            models: vec![
                plan("pca", DetectorSpec::Pca(PcaParams::default())),
                plan("knn", DetectorSpec::Knn(KnnParams::default())),
            ],
            combination: Combination::Mean,
            score_method: ScoreMethod::Linear,
            rule: AlertRule {
                smooth_n: 1,
                threshold: 0.9,
                recent_n: 1,
                snooze_n: 3,
                ..AlertRule::default()
            },
            train_max_n: 2500,
            train_min_n: 14,
            train_max_age: 90 * 86_400,
            retrain_every: 50,
            extreme_margin: None,
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
