//! Score: per metric, the newest `score_max_n` points (`score_sql`) that have no score yet get
//! one: each model's probability, combined and rounded. A metric without a model (new, or not
//! trainable yet) or whose model cannot be read is skipped and reported; it never fails the
//! batch.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;

use super::{JobCtx, JobError, JobReport, by_metric, model_store, read_rows, round_to};
use crate::config::Batch;
use crate::detect::{FeatureCache, combine, combine_answers};
use crate::model_store::ModelLoadError;
use crate::store::{MetricRow, MetricType, score_metadata};

pub async fn run(ctx: &JobCtx, batch: &Batch) -> Result<JobReport, JobError> {
    let spec = &batch.spec;
    let mut report = JobReport::default();
    let rows = read_rows(ctx, batch, "score_sql", &spec.score_sql, &mut report).await?;
    let store = model_store(ctx, batch)?;

    let mut new_scores = Vec::new();
    let level_from = lowest_alerting(spec.alert_smooth_n, spec.alert_threshold);
    // One metric's unreadable model skips that metric; a store that reads none fails the run.
    let (mut loaded, mut unreadable) = (0usize, None);
    for (metric, rows) in by_metric(rows) {
        let scored: BTreeSet<NaiveDateTime> = rows
            .iter()
            .filter(|r| r.metric_type == MetricType::Score)
            .map(|r| r.timestamp)
            .collect();
        let points: Vec<(i64, f64)> = rows
            .iter()
            .filter(|r| r.metric_type == MetricType::Metric)
            .map(|r| (r.timestamp.and_utc().timestamp(), r.value))
            .collect();
        let unscored = points
            .iter()
            .filter(|(t, _)| !scored.contains(&to_naive(*t)))
            .count();
        if unscored == 0 {
            continue;
        }
        let mut models = Vec::new();
        for (plan, model) in store.trained(batch.name(), &metric, &batch.models).await {
            match model {
                Ok(None) => {}
                Ok(Some(m)) => models.push(m),
                Err(ModelLoadError::Format(e)) => {
                    report.skip(&metric, format!("model {}: {e}", plan.tag));
                }
                Err(ModelLoadError::Store(e)) => {
                    tracing::warn!(batch = batch.name(), metric, error = %e, "model unreadable; metric skipped");
                    report.skip(&metric, format!("model {}: {e}", plan.tag));
                    unreadable.get_or_insert(e);
                }
            }
        }
        loaded += usize::from(!models.is_empty());
        if models.is_empty() {
            report.skip(&metric, "no model yet (train first)");
            continue;
        }
        // Each model scores with the preprocessing it was trained with.
        let mut per_ts: BTreeMap<i64, Vec<(f64, bool, f64)>> = BTreeMap::new();
        let mut cache = FeatureCache::new(&points);
        for model in &models {
            let Ok(features) = cache.get(&model.preprocess) else {
                continue;
            };
            for (t, raw) in features.timestamps.iter().zip(model.raw_scores(features)) {
                let extreme = spec
                    .alert_extreme_margin
                    .is_some_and(|m| model.is_extreme(raw, m));
                per_ts.entry(*t).or_default().push((
                    model.probability(raw),
                    extreme,
                    model.level(raw).unwrap_or(f64::NAN),
                ));
            }
        }
        for (t, answers) in per_ts {
            let ts = to_naive(t);
            if scored.contains(&ts) {
                continue;
            }
            let probabilities: Vec<(f64, bool)> = answers.iter().map(|a| (a.0, a.1)).collect();
            let (score, extreme) = combine_answers(spec.combination(), &probabilities);
            if score.is_nan() {
                continue;
            }
            // Points that may alert keep their level, for feedback to compare with later.
            let levels: Vec<f64> = answers.iter().map(|a| a.2).collect();
            let level = Some(combine(spec.combination(), &levels))
                .filter(|l| l.is_finite() && score >= level_from);
            new_scores.push(MetricRow {
                timestamp: ts,
                batch: batch.name().to_owned(),
                name: metric.clone(),
                metric_type: MetricType::Score,
                value: round_to(score, spec.score_metric_rounding),
                metadata: score_metadata(extreme, level),
            });
        }
    }
    if let (0, Some(e)) = (loaded, unreadable) {
        return Err(e.into());
    }
    let written = ctx
        .store
        .upsert_metrics(&spec.table_key, &new_scores)
        .await?;
    report.rows_written = written.written as u64;
    report.note(format!(
        "wrote {} score(s); {} metric(s) skipped",
        written.written,
        report.skipped.len()
    ));
    // Last, so a run of no scores says why where the run is listed.
    if written.written == 0 {
        report.note(match report.skipped.first() {
            _ if report.rows_read == 0 => {
                "nothing to score: no rows in the score window (score_sql)".to_owned()
            }
            None => "nothing to score: every point in the window has a score".to_owned(),
            Some(first) => format!("nothing scored: {first}"),
        });
    }
    Ok(report)
}

/// The lowest score of a point that can alert: its smoothed score (the mean with the
/// `smooth_n - 1` before it, each at most 1) reaching the threshold, or its own as an
/// extreme. Only such points keep their level in their metadata: storing it for every point
/// would grow every score row.
fn lowest_alerting(smooth_n: usize, threshold: f64) -> f64 {
    let n = smooth_n.max(1) as f64;
    (n * threshold - (n - 1.0)).clamp(0.0, threshold)
}

fn to_naive(t: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.naive_utc())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::lowest_alerting;

    #[test]
    fn levels_are_kept_from_the_lowest_score_that_can_alert() {
        // Two-point smoothing at 0.995: the other point is at most 1, so 0.99.
        assert!((lowest_alerting(2, 0.995) - 0.99).abs() < 1e-12);
        // Three points at 0.8 (the original's rule): 0.4.
        assert!((lowest_alerting(3, 0.8) - 0.4).abs() < 1e-12);
        // No smoothing: the threshold itself; never below 0.
        assert_eq!(lowest_alerting(1, 0.9), 0.9);
        assert_eq!(lowest_alerting(10, 0.5), 0.0);
    }
}
