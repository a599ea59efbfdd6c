//! Train: per metric, the newest `train_max_n` points of the training window (`train_sql`),
//! one model per `model_configs` entry, written to the model store. A metric with fewer than
//! `train_min_n` points is skipped with its reason. Metrics are fitted while the rest of the
//! window is still being read, off the async executor, on every core.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{JobCtx, JobError, JobReport, model_store, render};
use crate::config::{Batch, ModelPlan};
use crate::detect::feedback::rows_to_keep;
use crate::detect::{DetectError, FeatureCache, Features, ScoreMethod, TrainedModel};
use crate::model_store::ModelStore;
use crate::store::{Feedback, Series};

/// Metrics fitted per blocking task at most: large enough to amortise the hand-off.
const CHUNK: usize = 64;

const CONTEXT: &str = "train_sql failed";

pub async fn run(ctx: &JobCtx, batch: &Batch) -> Result<JobReport, JobError> {
    let spec = &batch.spec;
    let sql = render(ctx, batch, "train_sql", &spec.train_sql)?;
    // Confirmed anomalies (👍) are left out of training.
    let mut confirmed: HashMap<String, Vec<i64>> = HashMap::new();
    for v in ctx
        .store
        .verdicts(&spec.table_key, batch.name(), None)
        .await?
    {
        if v.feedback == Feedback::Up {
            confirmed
                .entry(v.metric)
                .or_default()
                .push(v.timestamp.and_utc().timestamp());
        }
    }
    let fitter = Fitter {
        plans: batch.models.clone(),
        min_n: spec.train_min_n,
        method: spec.model_score_method,
        trained_at: ctx.run_ts.timestamp(),
        confirmed: Arc::new(confirmed),
    };
    let store = model_store(ctx, batch)?;

    // Each metric's series is handed over as soon as its rows end. A local file (or replica)
    // is read on a blocking thread (it answers without yielding); rows over the network
    // arrive as the runtime's I/O delivers them, so they are read on it (from a blocking
    // thread, every row would cost a wake-up across threads: twice the time).
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = {
        let (db, sql) = (ctx.store.clone(), sql.clone());
        let read = async move {
            db.stream_series(&sql, CONTEXT, |series| {
                // The receiver lives until the reader ends, unless the job failed.
                let _ = tx.send(series);
            })
            .await
        };
        if ctx.store.reads_locally() {
            let runtime = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || runtime.block_on(read))
        } else {
            tokio::spawn(read)
        }
    };
    let mut report = fit_all(rx, &fitter, &store, batch.name()).await?;
    let grouped = reader
        .await
        .map_err(|e| JobError::Worker(e.to_string()))??;
    if !grouped {
        // A train_sql that interleaves metrics: what was fitted saw part of a series. Read
        // the whole window, then fit every metric again (overwriting those models).
        let series = ctx.store.query_series(&sql, CONTEXT).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        for one in series {
            let _ = tx.send(one);
        }
        drop(tx);
        report = fit_all(rx, &fitter, &store, batch.name()).await?;
    }
    Ok(report)
}

/// What fitting one metric needs, shared by the blocking tasks.
#[derive(Clone)]
struct Fitter {
    plans: Vec<ModelPlan>,
    min_n: usize,
    method: ScoreMethod,
    trained_at: i64,
    /// Per metric, the points people confirmed as anomalies.
    confirmed: Arc<HashMap<String, Vec<i64>>>,
}

/// Fits every series `incoming` delivers, a chunk per blocking task and as many tasks as
/// cores (one fewer while series are still arriving: the reader needs one), saving models
/// as chunks finish.
async fn fit_all(
    mut incoming: mpsc::UnboundedReceiver<Series>,
    fitter: &Fitter,
    store: &ModelStore,
    batch: &str,
) -> Result<JobReport, JobError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut report = JobReport::default();
    let mut pending: Vec<Series> = Vec::new();
    let mut running = tokio::task::JoinSet::new();
    let (mut reading, mut metrics, mut models) = (true, 0usize, 0u64);
    // One metric's model that cannot be written skips it; a store that takes none fails.
    let mut unsaved = None;
    loop {
        let slots = if reading { (cores - 1).max(1) } else { cores };
        while running.len() < slots && !pending.is_empty() {
            let take = pending.len().min(CHUNK);
            let chunk: Vec<Series> = pending.drain(..take).collect();
            let fitter = fitter.clone();
            running.spawn_blocking(move || {
                chunk
                    .into_iter()
                    .map(|(metric, points)| {
                        let outcome = fitter.fit_metric(&metric, &points);
                        (metric, outcome)
                    })
                    .collect::<Vec<_>>()
            });
        }
        if !reading && running.is_empty() {
            break;
        }
        tokio::select! {
            next = incoming.recv(), if reading => match next {
                Some(series) => {
                    report.rows_read += series.1.len() as u64;
                    metrics += 1;
                    pending.push(series);
                }
                None => reading = false,
            },
            Some(done) = running.join_next(), if !running.is_empty() => {
                let fitted = done.map_err(|e| JobError::Worker(e.to_string()))?;
                for (metric, outcome) in fitted {
                    match outcome {
                        Err(reason) => report.skip(&metric, reason),
                        Ok(list) => {
                            for (tag, result) in list {
                                match result {
                                    Ok(bytes) => match store.save(batch, &metric, &tag, &bytes).await {
                                        Ok(()) => models += 1,
                                        Err(e) => {
                                            tracing::warn!(batch, metric, error = %e, "model not saved; metric skipped");
                                            report.skip(&metric, format!("{tag}: {e}"));
                                            unsaved.get_or_insert(e);
                                        }
                                    },
                                    Err(e) => report.skip(&metric, format!("{tag}: {e}")),
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if let (0, Some(e)) = (models, unsaved) {
        return Err(e.into());
    }
    report.rows_written = models;
    report.note(format!(
        "trained {models} model(s) for {metrics} metric(s); {} skipped",
        report.skipped.len()
    ));
    // Last, so a run of no models says why where the run is listed.
    if models == 0 {
        report.note(match report.skipped.first() {
            None => "nothing to train: no rows in the training window (train_sql)".to_owned(),
            Some(first) => format!("nothing trained: {first}"),
        });
    }
    Ok(report)
}

type Fitted = Vec<(String, Result<Vec<u8>, String>)>;

/// `features` without the rows that hold a confirmed anomaly; none when no row does.
fn without_confirmed(features: &Features, confirmed: &[i64], warmup: usize) -> Option<Features> {
    if confirmed.is_empty() {
        return None;
    }
    let kept = rows_to_keep(&features.timestamps, confirmed, warmup);
    (kept.len() < features.timestamps.len()).then(|| features.rows(&kept))
}

impl Fitter {
    /// Fits every plan on one metric's points; `Err` when the metric is too young to train.
    fn fit_metric(&self, metric: &str, series: &[(i64, f64)]) -> Result<Fitted, String> {
        let min_n = self.min_n;
        if series.len() < min_n.max(1) {
            return Err(format!(
                "{} points, train_min_n is {min_n}; not trained yet",
                series.len()
            ));
        }
        let mut features = FeatureCache::new(series);
        Ok(self
            .plans
            .iter()
            .map(|plan| {
                let confirmed = self.confirmed.get(metric).map_or(&[][..], Vec::as_slice);
                let result = features
                    .get(&plan.preprocess)
                    .and_then(|features| {
                        let kept = without_confirmed(features, confirmed, plan.preprocess.warmup());
                        TrainedModel::train(
                            &plan.detector,
                            plan.preprocess,
                            self.method,
                            kept.as_ref().unwrap_or(features),
                            self.trained_at,
                        )
                    })
                    .map(|model| model.to_json())
                    .map_err(|e| match e {
                        // Rows are feature rows: the first points of a series go to its lags.
                        DetectError::NotEnoughRows { needed, got } => format!(
                            "{} points leave {got} rows of features after preprocessing \
                             (lags_n {}, diff_n {}, smooth_n {}) and the model needs {needed}; \
                             it trains once the metric has more points",
                            series.len(),
                            plan.preprocess.lags_n,
                            plan.preprocess.diff_n,
                            plan.preprocess.smooth_n
                        ),
                        other => other.to_string(),
                    });
                (plan.tag.clone(), result)
            })
            .collect())
    }
}
