//! LLM alert: per metric, the newest `llmalert_prompt_max_n` values (optionally smoothed and
//! rounded) go to an LLM under the metric's real name; the anomalies it reports are re-checked
//! by a verification prompt. Every confirmed anomaly becomes an `llmalert` row carrying its
//! explanation; confirmed anomalies among the newest `llmalert_recent_n` points that were not
//! flagged before become one notice per metric. With `llmalert_include_plot` a PNG of the same
//! points goes along; a model that refuses images is asked again without. A failing call
//! (timeout, error, unreadable answer) is logged for its metric and the others go on.

use std::collections::BTreeSet;

use serde_json::json;

use super::{Event, JobCtx, JobError, JobReport, Notice, by_metric, read_rows, round_to};
use crate::charts::png::{draw_in_background, series_png};
use crate::config::Batch;
use crate::llm::parse::Flag;
use crate::llm::{Budget, LlmError, prompt};
use crate::store::{MetricRow, MetricType};
use crate::timestamp::{format_db, parse_lenient};

pub async fn run(ctx: &JobCtx, batch: &Batch) -> Result<JobReport, JobError> {
    let spec = &batch.spec;
    let Some(llm) = &ctx.llm else {
        return Err(JobError::Config {
            batch: batch.name().to_owned(),
            message: "llmalert needs an LLM: set OPENAI_API_KEY (and OPENAI_BASE_URL or ANOMSTACK_LLM_PLATFORM for other providers)".into(),
        });
    };
    let mut report = JobReport::default();
    let rows = read_rows(ctx, batch, "llmalert_sql", &spec.llmalert_sql, &mut report).await?;
    let budget = Budget::new(llm.settings());
    let prompts = Prompts {
        detection: spec.llm_detection_prompt().unwrap_or(prompt::DETECTION),
        verification: spec
            .llmalert_anomaly_agent_verification_prompt
            .as_deref()
            .unwrap_or(prompt::VERIFICATION),
    };
    // Models that refused an image, so later metrics are not asked twice (`random` may pick
    // another model for them).
    let mut text_only: BTreeSet<String> = BTreeSet::new();
    let mut written = 0u64;
    let (mut asked, mut failed) = (0usize, 0usize);
    let mut budget_spent = false;
    for (metric, rows) in by_metric(rows) {
        let mut points: Vec<(chrono::NaiveDateTime, f64)> = rows
            .iter()
            .filter(|r| r.metric_type == MetricType::Metric && r.value.is_finite())
            .map(|r| (r.timestamp, r.value))
            .collect();
        if points.is_empty() {
            continue;
        }
        let flagged_before: BTreeSet<_> = rows
            .iter()
            .filter(|r| r.metric_type == MetricType::LlmAlert)
            .map(|r| r.timestamp)
            .collect();
        smooth(&mut points, spec.llmalert_smooth_n);
        let keep = spec.llmalert_prompt_max_n.max(1);
        let points = &points[points.len().saturating_sub(keep)..];
        let lines: Vec<(String, f64)> = points
            .iter()
            .map(|(t, v)| {
                let v = if spec.llmalert_metric_rounding >= 0 {
                    round_to(*v, spec.llmalert_metric_rounding as u32)
                } else {
                    *v
                };
                (format_db(*t), v)
            })
            .collect();
        let model = llm
            .model(&spec.llmalert_model, seed(&metric))
            .map_err(|e| JobError::Config {
                batch: batch.name().to_owned(),
                message: e.to_string(),
            })?;
        asked += 1;
        let chart = if spec.llmalert_include_plot && !text_only.contains(&model) {
            let (title, series) = (metric.clone(), points.to_vec());
            draw_in_background(move || series_png(&title, &series))
                .await
                .map_err(|e| report.note(format!("{metric}: asked without a chart: {e}")))
                .ok()
        } else {
            None
        };
        let ask = |chart| ask_and_verify(llm, &budget, &model, &prompts, &metric, &lines, chart);
        let outcome = match ask(chart.as_deref()).await {
            Err(LlmError::Status { status, detail }) if chart.is_some() && refusal(status) => {
                report.note(format!(
                    "{model} refused the chart (HTTP {status}: {detail}); asking it without \
                     charts from now on (set llmalert_include_plot: false for text-only models)"
                ));
                text_only.insert(model.clone());
                ask(None).await
            }
            other => other,
        };
        let confirmed = match outcome {
            Ok(c) => c,
            Err(e) => {
                failed += 1;
                report.note(format!("{metric}: {e}"));
                if matches!(e, LlmError::Budget(_)) {
                    budget_spent = true;
                    break;
                }
                continue;
            }
        };
        // Only anomalies at timestamps of the series count; the model may invent others.
        let mut found: Vec<(chrono::NaiveDateTime, String)> = confirmed
            .iter()
            .filter_map(|f| {
                let ts = parse_lenient(&f.timestamp)?;
                points
                    .iter()
                    .any(|(t, _)| *t == ts)
                    .then(|| (ts, f.description.clone()))
            })
            .collect();
        found.sort();
        found.dedup_by_key(|(t, _)| *t);
        if found.is_empty() {
            continue;
        }
        // Saved per metric, so a run cut short keeps what it already paid for.
        let mut new_rows = Vec::new();
        for (ts, why) in &found {
            new_rows.push(MetricRow {
                timestamp: *ts,
                batch: batch.name().to_owned(),
                name: metric.clone(),
                metric_type: MetricType::LlmAlert,
                value: 1.0,
                metadata: json!({ "anomaly_explanation": why }).to_string(),
            });
        }
        written += ctx
            .store
            .upsert_metrics(&spec.table_key, &new_rows)
            .await?
            .written as u64;
        let recent_n = spec.llmalert_recent_n.max(1);
        let recent_from = points[points.len().saturating_sub(recent_n)].0;
        let mut fresh: Vec<&(chrono::NaiveDateTime, String)> = found
            .iter()
            .filter(|(t, _)| *t >= recent_from && !flagged_before.contains(t))
            .collect();
        if fresh.is_empty() {
            continue;
        }
        fresh.sort_by_key(|f| std::cmp::Reverse(f.0));
        report.notices.push(Notice {
            metric: metric.clone(),
            event: Event::Llm {
                findings: fresh.into_iter().cloned().collect(),
            },
        });
    }
    // A run fails when the LLM could not be used at all; a spent budget is a limit, not a fault.
    if asked > 0 && failed == asked && !budget_spent {
        return Err(JobError::Config {
            batch: batch.name().to_owned(),
            message: format!(
                "every LLM call failed ({failed} metric(s)); {}",
                report.log.join("; ")
            ),
        });
    }
    report.rows_written = written;
    report.note(format!(
        "asked about {asked} metric(s), {failed} failed; {} LLM anomaly row(s), {} alert(s)",
        written,
        report.notices.len()
    ));
    Ok(report)
}

/// Whether an HTTP error may be the model refusing an image, worth one retry without it:
/// OpenAI answers 400, OpenRouter 404 ("No endpoints found that support image input"), others
/// 413, 415 or 422. Authentication, rate limits and timeouts would fail again.
fn refusal(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 403 | 408 | 429)
}

/// The batch's instructions for each step (built-in unless the batch replaces them).
struct Prompts<'a> {
    detection: &'a str,
    verification: &'a str,
}

/// Detection, then verification of its candidates, both with the chart when there is one.
async fn ask_and_verify(
    llm: &crate::llm::LlmClient,
    budget: &Budget,
    model: &str,
    prompts: &Prompts<'_>,
    metric: &str,
    lines: &[(String, f64)],
    chart: Option<&[u8]>,
) -> Result<Vec<Flag>, LlmError> {
    let system = if chart.is_some() {
        prompt::SYSTEM_WITH_CHART
    } else {
        prompt::SYSTEM
    };
    let detection = prompt::user_message(metric, prompts.detection, lines, None);
    let candidates = llm.ask(budget, model, system, &detection, chart).await?;
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let verification = prompt::user_message(metric, prompts.verification, lines, Some(&candidates));
    llm.ask(budget, model, system, &verification, chart).await
}

/// A trailing mean over `n` points (0 or 1: unchanged).
fn smooth(points: &mut [(chrono::NaiveDateTime, f64)], n: usize) {
    if n <= 1 {
        return;
    }
    let raw: Vec<f64> = points.iter().map(|p| p.1).collect();
    for (i, p) in points.iter_mut().enumerate() {
        let from = (i + 1).saturating_sub(n);
        p.1 = raw[from..=i].iter().sum::<f64>() / (i + 1 - from) as f64;
    }
}

/// A stable number per metric, so `random` picks the same model for a metric within a run.
fn seed(metric: &str) -> u64 {
    metric.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1099511628211)
    }) ^ (chrono::Utc::now().timestamp() as u64 / 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_an_image_can_cause_are_retried_without_it() {
        for status in [400, 404, 413, 415, 422] {
            assert!(refusal(status), "{status}");
        }
        for status in [401, 403, 408, 429, 500, 503] {
            assert!(!refusal(status), "{status}");
        }
    }

    #[test]
    fn smoothing_is_a_trailing_mean() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let mut p = vec![(t, 1.0), (t, 3.0), (t, 5.0)];
        smooth(&mut p, 2);
        assert_eq!(
            p.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![1.0, 2.0, 4.0]
        );
        let mut q = vec![(t, 1.0), (t, 3.0)];
        smooth(&mut q, 0);
        assert_eq!(q[1].1, 3.0);
    }
}
