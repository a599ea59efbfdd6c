//! Walk-forward replay of one series through a batch's detection settings, causally: models
//! are trained on the rows before the current one (retrained every `retrain_every` rows),
//! each row is scored on its own, and the alert rule runs on the scores so far, exactly as
//! the train, score and alert jobs would have seen them.

use super::feedback::{FeedbackRule, Verdict, rows_to_keep};
use super::rules::{AlertPoint, AlertRule, alert_decisions};
use super::{
    Combination, DetectorSpec, Features, Preprocess, RowScorer, ScoreMethod, TrainedModel, combine,
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
    /// How verdicts on alerts mute later ones (used when the replay is taught).
    pub feedback: FeedbackRule,
}

/// One model's answer on one point.
#[derive(Debug, Clone, Copy)]
struct Answer {
    probability: f64,
    extreme: bool,
    /// NaN where the model has none.
    level: f64,
}

const NO_ANSWER: Answer = Answer {
    probability: f64::NAN,
    extreme: false,
    level: f64::NAN,
};

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
    replay_taught(points, s, None)
}

/// A replay in which someone gives a verdict on every alert the moment it is sent:
/// `teacher(p)` says whether the alert on point `p` was useful. Each verdict affects only
/// the points after it: a 👎 mutes later alerts like it, and a 👍 keeps its point out of
/// every model trained after it, as the live alert and train jobs do.
pub fn replay_taught(
    points: &[(i64, f64)],
    s: &ReplaySettings,
    teacher: Option<&dyn Fn(usize) -> bool>,
) -> Vec<ReplayRow> {
    let mut monotonic = Vec::with_capacity(points.len());
    let mut last = i64::MIN;
    for &(t, v) in points {
        let t = if t <= last { last + 1 } else { t };
        monotonic.push((t, v));
        last = t;
    }
    let walks: Vec<Walk> = s
        .models
        .iter()
        .map(|plan| Walk::new(&monotonic, plan))
        .collect();
    let mut scores: Vec<AlertPoint> = Vec::with_capacity(points.len());
    let mut alerts: Vec<bool> = Vec::with_capacity(points.len());
    let mut last_alert: Option<usize> = None;
    let mut verdicts: Vec<Verdict> = Vec::new();
    // Times of the points people confirmed: out of every later training.
    let mut confirmed: Vec<i64> = Vec::new();
    let mut out = Vec::with_capacity(points.len());
    // The points the rule looks at: smoothing and snooze, and the values a move is judged on.
    let tail = s
        .rule
        .smooth_n
        .max(1)
        .saturating_add(s.rule.snooze_n)
        .saturating_add(1)
        .max(super::rules::BASELINE_N + super::rules::MOVE_N);
    let every = s.retrain_every.max(1);
    // Models are retrained at every multiple of `retrain_every` points, on what was known then.
    for segment in (0..points.len()).step_by(every) {
        let end = (segment + every).min(points.len());
        let per_model: Vec<Vec<Answer>> = walks
            .iter()
            .map(|w| w.segment(segment, end, s, &confirmed))
            .collect();
        for p in segment..end {
            let answers: Vec<(f64, bool)> = per_model
                .iter()
                .map(|m| (m[p - segment].probability, m[p - segment].extreme))
                .collect();
            let (score, extreme) = combine_answers(s.combination, &answers);
            let levels: Vec<f64> = per_model.iter().map(|m| m[p - segment].level).collect();
            let level = Some(combine(s.combination, &levels)).filter(|l| l.is_finite());
            if score.is_nan() {
                out.push(ReplayRow {
                    score: 0.0,
                    scored: false,
                    alert: false,
                });
                continue;
            }
            // Like the score job, points without a score are not part of the alert series.
            let at = scores.len() as f64;
            scores.push(AlertPoint {
                score,
                value: points[p].1,
                extreme,
                muted: s.feedback.muted(&verdicts, at, level),
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
                if let Some(teach) = teacher {
                    let useful = teach(p);
                    if useful {
                        confirmed.push(monotonic[p].0);
                    }
                    verdicts.push(Verdict { at, useful, level });
                }
            }
            out.push(ReplayRow {
                score,
                scored: true,
                alert,
            });
        }
    }
    out
}

/// One model's walk forward over a series: its feature rows and the point each row ends at.
struct Walk<'a> {
    plan: &'a ModelPlan,
    /// None when the series cannot be preprocessed: the model never answers.
    features: Option<Features>,
    point_of: Vec<usize>,
}

impl<'a> Walk<'a> {
    fn new(points: &[(i64, f64)], plan: &'a ModelPlan) -> Self {
        let Ok(features) = plan.preprocess.apply(points) else {
            return Self {
                plan,
                features: None,
                point_of: Vec::new(),
            };
        };
        let point_of = row_points(points, &features.timestamps);
        Self {
            plan,
            features: Some(features),
            point_of,
        }
    }

    /// The model's answers on points `from..to`: trained on the feature rows before the
    /// first of them, less the rows holding a `confirmed` point; each row scored on its own.
    fn segment(
        &self,
        from: usize,
        to: usize,
        s: &ReplaySettings,
        confirmed: &[i64],
    ) -> Vec<Answer> {
        let mut out = vec![NO_ANSWER; to - from];
        let Some(features) = &self.features else {
            return out;
        };
        let first = self.point_of.partition_point(|&p| p < from);
        let last = self.point_of.partition_point(|&p| p < to);
        if first == last {
            return out;
        }
        let Some(model) = train_model(features, &self.point_of, first, self.plan, s, confirmed)
        else {
            return out;
        };
        let mut scorer: Box<dyn RowScorer + '_> = model.scorer();
        for i in first..last {
            let raw = scorer.score(&features.rows(&[i]));
            out[self.point_of[i] - from] = raw.first().map_or(NO_ANSWER, |&v| Answer {
                probability: model.probability(v),
                extreme: s.extreme_margin.is_some_and(|m| model.is_extreme(v, m)),
                level: model.level(v).unwrap_or(f64::NAN),
            });
        }
        out
    }
}

/// The point after which each feature row is known: its own point, or for a resampled
/// bucket (timestamped at its start) the bucket's last point, before the next row's time.
/// Never decreasing, so segments of points map to runs of rows.
fn row_points(points: &[(i64, f64)], row_times: &[i64]) -> Vec<usize> {
    let mut last = 0;
    (0..row_times.len())
        .map(|r| {
            let at = match points.binary_search_by_key(&row_times[r], |p| p.0) {
                Ok(i) => i,
                Err(_) => {
                    let next = row_times.get(r + 1).copied().unwrap_or(i64::MAX);
                    points.partition_point(|p| p.0 < next).saturating_sub(1)
                }
            };
            last = last.max(at);
            last
        })
        .collect()
}

/// A model fitted on the feature rows before row `k`, within the training window and
/// without the rows holding a confirmed point; none while there is not enough history (as
/// the train job skips young metrics).
fn train_model(
    features: &Features,
    point_of: &[usize],
    k: usize,
    plan: &ModelPlan,
    s: &ReplaySettings,
    confirmed: &[i64],
) -> Option<TrainedModel> {
    let now = *features.timestamps.get(k)?;
    if point_of[k] < s.train_min_n.max(1) || k == 0 {
        return None;
    }
    let start = k.saturating_sub(s.train_max_n);
    let start = (start..k).find(|&i| now - features.timestamps[i] <= s.train_max_age)?;
    let idx: Vec<usize> = if confirmed.is_empty() {
        (start..k).collect()
    } else {
        rows_to_keep(
            &features.timestamps[start..k],
            confirmed,
            plan.preprocess.warmup(),
        )
        .into_iter()
        .map(|r| start + r)
        .collect()
    };
    let train = features.rows(&idx);
    TrainedModel::train(&plan.detector, plan.preprocess, s.score_method, &train, now).ok()
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
            feedback: FeedbackRule::default(),
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
    fn a_taught_replay_mutes_a_repeat_of_a_rejected_spike_but_not_a_bigger_one() {
        let mut points: Vec<(i64, f64)> = (0..900)
            .map(|i| (i * 300, (i as f64 * 0.7).sin() + 0.1 * ((i * 7) % 5) as f64))
            .collect();
        for (at, size) in [(400, 8.0), (600, 8.0), (800, 40.0)] {
            points[at].1 += size;
        }
        let alerts_at = |out: &[ReplayRow]| -> Vec<usize> {
            (0..out.len()).filter(|&i| out[i].alert).collect()
        };
        // The differenced, smoothed features of these settings alert a few points on.
        let near =
            |alerts: &[usize], spike: usize| alerts.iter().any(|a| (spike..spike + 10).contains(a));
        let plain = alerts_at(&replay(&points, &settings()));
        assert!(
            [400, 600, 800].iter().all(|&p| near(&plain, p)),
            "{plain:?}"
        );
        // Every alert is judged a false alarm but the last spike's.
        let judge = |p: usize| (800..810).contains(&p);
        let taught = alerts_at(&replay_taught(&points, &settings(), Some(&judge)));
        assert!(near(&taught, 400) && near(&taught, 800), "{taught:?}");
        assert!(!near(&taught, 600), "{taught:?}");
        assert!(taught.len() < plain.len());
    }

    #[test]
    fn a_confirmed_spike_stays_out_of_later_training_so_its_repeat_stays_anomalous() {
        let mut points: Vec<(i64, f64)> = (0..900)
            .map(|i| (i * 300, (i as f64 * 0.7).sin() + 0.1 * ((i * 7) % 5) as f64))
            .collect();
        for at in [400, 600] {
            points[at].1 += 8.0;
        }
        let peak = |out: &[ReplayRow]| {
            out[600..610]
                .iter()
                .map(|r| r.score)
                .fold(f64::NEG_INFINITY, f64::max)
        };
        let mut s = settings();
        // No mutes: only what the models learn differs.
        s.feedback.half_life_n = 0.0;
        let plain = replay(&points, &s);
        let confirmed = replay_taught(&points, &s, Some(&|_| true));
        let rejected = replay_taught(&points, &s, Some(&|_| false));
        assert_eq!(
            peak(&plain),
            peak(&rejected),
            "a 👎 point stays in training"
        );
        assert!(
            peak(&confirmed) > peak(&plain),
            "{} vs {}",
            peak(&confirmed),
            peak(&plain)
        );
    }

    #[test]
    fn resampled_rows_are_known_after_their_bucket_and_never_go_back() {
        // Points every 100 s; rows for 300 s buckets starting at 0, 300, 600 (not all point
        // times), and an exact one.
        let points: Vec<(i64, f64)> = (0..9).map(|i| (50 + i * 100, 0.0)).collect();
        assert_eq!(row_points(&points, &[0, 300, 650, 750]), vec![2, 5, 6, 7]);
        assert_eq!(row_points(&points, &[0, 300, 600]), vec![2, 5, 8]);
        // A resampled batch replays without panicking.
        let mut s = settings();
        for m in &mut s.models {
            m.preprocess.resample_seconds = Some(600);
        }
        let series: Vec<(i64, f64)> = (0..3000).map(|i| (i * 100 + 7, (i % 13) as f64)).collect();
        let out = replay_taught(&series, &s, Some(&|_| true));
        assert_eq!(out.len(), series.len());
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
