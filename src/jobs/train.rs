//! Train: per metric, the newest `train_max_n` points of the training window (`train_sql`),
//! one model per `model_configs` entry, written to the model store. A metric with fewer than
//! `train_min_n` points is skipped with its reason; the fitting runs off the async executor.

use super::{JobCtx, JobError, JobReport, by_metric, model_store, render};
use crate::config::{Batch, ModelPlan};
use crate::detect::{DetectError, FeatureCache, TrainedModel};
use crate::store::MetricRow;

/// Metrics fitted per blocking task: large enough to amortise the hand-off.
const CHUNK: usize = 64;

pub async fn run(ctx: &JobCtx, batch: &Batch) -> Result<JobReport, JobError> {
    let spec = &batch.spec;
    let mut report = JobReport::default();
    let plans = spec.models().map_err(|message| JobError::Config {
        batch: batch.name().to_owned(),
        message,
    })?;
    let sql = render(ctx, batch, "train_sql", &spec.train_sql)?;
    let rows = ctx
        .store
        .query_long_rows(batch.name(), &sql, "train_sql failed")
        .await?;
    report.rows_read = rows.len() as u64;
    let store = model_store(ctx, batch)?;
    let min_n = spec.train_min_n as usize;
    let score_method = spec.model_score_method;
    let trained_at = ctx.run_ts.timestamp();

    let metrics: Vec<(String, Vec<MetricRow>)> = by_metric(rows).into_iter().collect();
    let mut models = 0u64;
    for chunk in metrics.chunks(CHUNK) {
        let chunk = chunk.to_vec();
        let plans = plans.clone();
        let fitted = tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .map(|(metric, points)| {
                    let outcome = fit_metric(&plans, &points, min_n, score_method, trained_at);
                    (metric, outcome)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| JobError::Worker(e.to_string()))?;
        for (metric, outcome) in fitted {
            match outcome {
                Err(reason) => report.skip(&metric, reason),
                Ok(list) => {
                    for (tag, result) in list {
                        match result {
                            Ok(bytes) => {
                                store.save(batch.name(), &metric, &tag, &bytes).await?;
                                models += 1;
                            }
                            Err(e) => report.skip(&metric, format!("{tag}: {e}")),
                        }
                    }
                }
            }
        }
    }
    report.rows_written = models;
    report.note(format!(
        "trained {models} model(s) for {} metric(s); {} skipped",
        metrics.len(),
        report.skipped.len()
    ));
    Ok(report)
}

type Fitted = Vec<(String, Result<Vec<u8>, DetectError>)>;

/// Fits every plan on one metric's points; `Err` when the metric is too young to train.
fn fit_metric(
    plans: &[ModelPlan],
    points: &[MetricRow],
    min_n: usize,
    method: crate::detect::ScoreMethod,
    trained_at: i64,
) -> Result<Fitted, String> {
    if points.len() < min_n.max(1) {
        return Err(format!(
            "{} points, train_min_n is {min_n}; not trained yet",
            points.len()
        ));
    }
    let series: Vec<(i64, f64)> = points
        .iter()
        .map(|r| (r.timestamp.and_utc().timestamp(), r.value))
        .collect();
    let mut features = FeatureCache::new(&series);
    Ok(plans
        .iter()
        .map(|plan| {
            let result = features
                .get(&plan.preprocess)
                .and_then(|features| {
                    TrainedModel::train(
                        &plan.detector,
                        plan.preprocess,
                        method,
                        features,
                        trained_at,
                    )
                })
                .map(|model| model.to_json());
            (plan.tag.clone(), result)
        })
        .collect())
}
