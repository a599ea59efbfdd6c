//! Train: per metric, the newest `train_max_n` points of the training window (`train_sql`),
//! one model per `model_configs` entry, written to the model store. A metric with fewer than
//! `train_min_n` points is skipped with its reason; the fitting runs off the async executor, on
//! every core.

use super::{JobCtx, JobError, JobReport, model_store, render};
use crate::config::{Batch, ModelPlan};
use crate::detect::{DetectError, FeatureCache, TrainedModel};
use crate::store::Series;

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
    let series = ctx.store.query_series(&sql, "train_sql failed").await?;
    report.rows_read = series.iter().map(|(_, points)| points.len() as u64).sum();
    let store = model_store(ctx, batch)?;
    let min_n = spec.train_min_n as usize;
    let score_method = spec.model_score_method;
    let trained_at = ctx.run_ts.timestamp();
    let metric_count = series.len();

    // Chunks of metrics are fitted on the blocking pool, one per core at a time; models are
    // saved as each chunk finishes.
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut pending = series.into_iter();
    let mut running = tokio::task::JoinSet::new();
    let mut models = 0u64;
    loop {
        while running.len() < parallel {
            let chunk: Vec<Series> = pending.by_ref().take(CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            let plans = plans.clone();
            running.spawn_blocking(move || {
                chunk
                    .into_iter()
                    .map(|(metric, points)| {
                        let outcome = fit_metric(&plans, &points, min_n, score_method, trained_at);
                        (metric, outcome)
                    })
                    .collect::<Vec<_>>()
            });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let fitted = done.map_err(|e| JobError::Worker(e.to_string()))?;
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
        "trained {models} model(s) for {metric_count} metric(s); {} skipped",
        report.skipped.len()
    ));
    Ok(report)
}

type Fitted = Vec<(String, Result<Vec<u8>, DetectError>)>;

/// Fits every plan on one metric's points; `Err` when the metric is too young to train.
fn fit_metric(
    plans: &[ModelPlan],
    series: &[(i64, f64)],
    min_n: usize,
    method: crate::detect::ScoreMethod,
    trained_at: i64,
) -> Result<Fitted, String> {
    if series.len() < min_n.max(1) {
        return Err(format!(
            "{} points, train_min_n is {min_n}; not trained yet",
            series.len()
        ));
    }
    let mut features = FeatureCache::new(series);
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
