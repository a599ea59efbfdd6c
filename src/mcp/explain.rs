//! `explain_anomaly`: what an assistant needs to judge one anomaly. How big the move was
//! (against the alert rule's own expected value), the score against the threshold, when the
//! episode began and how long it lasted, what else moved at the same time (same batch, and
//! metrics sharing a tag in other batches), and what people said of this metric before.
//! The maths (episode, magnitude) is pure and tested here; the rest reads the store.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ToolError;
use super::args::{iso, parse_time, round4};
use super::tools::{find_batch, kind_name, verdict_name};
use crate::config::{Batch, Config};
use crate::detect::median;
use crate::detect::rules::{AlertPoint, BASELINE_N, expected_value};
use crate::store::{ANOMALY_KINDS, ChartPoint, Feedback, MetricType, Store, Window, WindowQuery};

/// Points of history read before an anomaly (and after one given by time).
const CONTEXT_POINTS: u32 = 500;
/// Where the expected value comes from, said in every answer.
const EXPECTED_SOURCE: &str = "median of the 24 values before the episode began: the alert rule's own baseline (detect::rules::expected_value), not a model forecast";

/// A run of high or flagged points around an anomaly, as indices into its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    pub start: usize,
    /// The last high point of the run.
    pub end: usize,
    /// The run reaches the newest point: the episode is still going on.
    pub open: bool,
}

/// The episode around point `at`: the points before and after it, in a row, that were `high`
/// (flagged, or a smoothed score at the threshold). `at` belongs to it whatever its own flag.
pub fn episode(high: &[bool], at: usize) -> Episode {
    let mut start = at;
    while start > 0 && high[start - 1] {
        start -= 1;
    }
    let mut end = at;
    while end + 1 < high.len() && high[end + 1] {
        end += 1;
    }
    Episode {
        start,
        end,
        open: end + 1 == high.len(),
    }
}

/// How far a value is from what was expected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Magnitude {
    pub value: f64,
    pub expected: f64,
    /// `value - expected`.
    pub deviation: f64,
    /// The deviation as a share of the expected value's size (none when it is 0).
    pub relative: Option<f64>,
    /// The deviation in robust standard deviations of the baseline (1.4826 × MAD); none when
    /// the baseline does not vary.
    pub robust_z: Option<f64>,
}

/// The magnitude of `values[at]` against the baseline before point `start` (the episode's
/// first point, so the episode does not raise its own expectation). None without a value
/// or a baseline.
pub fn magnitude(values: &[f64], start: usize, at: usize) -> Option<Magnitude> {
    let value = *values.get(at).filter(|v| v.is_finite())?;
    let expected = expected_value(values, start)?;
    let baseline: Vec<f64> = values[start.saturating_sub(BASELINE_N)..start]
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let spread: Vec<f64> = baseline.iter().map(|v| (v - expected).abs()).collect();
    let mad = median(&spread) * 1.4826;
    let deviation = value - expected;
    Some(Magnitude {
        value,
        expected,
        deviation,
        relative: (expected != 0.0).then(|| deviation / expected.abs()),
        robust_z: (mad.is_finite() && mad > 0.0).then(|| deviation / mad),
    })
}

/// The usual gap between points, in seconds (the median gap); 0 for fewer than two points.
pub fn usual_interval(times: &[NaiveDateTime]) -> i64 {
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_seconds() as f64)
        .collect();
    let m = median(&gaps);
    if m.is_finite() { m as i64 } else { 0 }
}

#[derive(Debug, Deserialize)]
pub struct ExplainArgs {
    pub batch: String,
    pub metric: String,
    pub at: Option<String>,
}

/// The metric's points and the index of the anomaly to explain: the one at `at`, else the
/// newest flagged point.
async fn anomaly_series(
    store: &Store,
    batch: &Batch,
    args: &ExplainArgs,
    now: NaiveDateTime,
) -> Result<(Vec<ChartPoint>, usize), ToolError> {
    let table = &batch.spec.table_key;
    let (name, metric) = (batch.name(), args.metric.as_str());
    if let Some(raw) = &args.at {
        let at = parse_time("at", raw, now)?;
        let points = store
            .series_around(table, name, metric, at, CONTEXT_POINTS)
            .await?;
        let i = points
            .iter()
            .position(|p| p.timestamp == at && (p.flagged() || p.score.is_some()))
            .ok_or_else(|| {
                ToolError::NotFound(format!(
                    "metric `{metric}` of batch `{name}` has no scored or flagged point at {} (list_anomalies gives the times)",
                    iso(at)
                ))
            })?;
        return Ok((points, i));
    }
    let points = store
        .dashboard_series(
            table,
            name,
            metric,
            Window::Last(CONTEXT_POINTS as usize * 4),
            now,
            None,
        )
        .await?;
    let i = points.iter().rposition(ChartPoint::flagged).ok_or_else(|| {
        ToolError::NotFound(format!(
            "metric `{metric}` of batch `{name}` has no anomaly among its newest {} points; give `at`",
            CONTEXT_POINTS * 4
        ))
    })?;
    Ok((points, i))
}

/// `explain_anomaly`.
pub async fn explain_anomaly(
    store: &Store,
    config: &Config,
    args: ExplainArgs,
    now: NaiveDateTime,
) -> Result<Value, ToolError> {
    let batch = find_batch(config, &args.batch)?;
    let rule = batch.spec.alert_rule_for(&args.metric);
    let (points, at) = anomaly_series(store, batch, &args, now).await?;

    // Smoothed scores as the alert rule computes them, on the scored points only.
    let scored: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].score.is_some())
        .collect();
    let alert_points: Vec<AlertPoint> = scored
        .iter()
        .map(|&i| AlertPoint::scored(points[i].score.unwrap_or(0.0)))
        .collect();
    let mut smoothed: Vec<Option<f64>> = vec![None; points.len()];
    for (k, s) in rule.smoothed(&alert_points).into_iter().enumerate() {
        smoothed[scored[k]] = Some(s);
    }
    let high: Vec<bool> = (0..points.len())
        .map(|i| points[i].flagged() || smoothed[i].is_some_and(|s| s >= rule.threshold))
        .collect();
    let ep = episode(&high, at);
    let values: Vec<f64> = points.iter().map(|p| p.value.unwrap_or(f64::NAN)).collect();
    let times: Vec<NaiveDateTime> = points.iter().map(|p| p.timestamp).collect();
    let interval = usual_interval(&times);

    let mut magnitude_json = match magnitude(&values, ep.start, at) {
        Some(m) => json!({
            "value": m.value,
            "expected": round4(m.expected),
            "deviation": round4(m.deviation),
            "relative_deviation": m.relative.map(round4),
            "robust_z": m.robust_z.map(round4),
            "direction": if m.deviation >= 0.0 { "up" } else { "down" },
            "expected_source": EXPECTED_SOURCE,
        }),
        None => json!({"note": "no value or no history before the episode to compare with"}),
    };
    // The episode's largest departure, when it is not the point asked about.
    let peak = (ep.start..=ep.end)
        .filter_map(|i| magnitude(&values, ep.start, i).map(|m| (i, m)))
        .max_by(|a, b| a.1.deviation.abs().total_cmp(&b.1.deviation.abs()));
    if let Some((i, m)) = peak.filter(|(i, _)| *i != at) {
        magnitude_json["episode_peak"] = json!({
            "at": iso(times[i]), "value": m.value, "deviation": round4(m.deviation),
        });
    }

    let pad = Duration::seconds((interval * 3).max(300));
    let (from, to) = (times[ep.start] - pad, times[ep.end] + pad);
    let together = moved_together(store, config, batch, &args.metric, from, to).await?;
    let feedback = feedback_history(store, batch, &args.metric).await?;
    let here = &points[at];
    let mut answer = json!({
        "batch": batch.name(),
        "metric": args.metric,
        "at": iso(here.timestamp),
        "kinds": here.kinds().into_iter().map(kind_name).collect::<Vec<_>>(),
        "magnitude": magnitude_json,
        "score": {
            "score": here.score.map(round4),
            "smoothed_score": smoothed[at].map(round4),
            "threshold": rule.threshold,
            "smooth_n": rule.smooth_n,
        },
        "episode": {
            "start": iso(times[ep.start]),
            "last_high_point": iso(times[ep.end]),
            "points": ep.end - ep.start + 1,
            "duration_seconds": (times[ep.end] - times[ep.start]).num_seconds(),
            "still_open": ep.open,
            "usual_interval_seconds": interval,
        },
        "moved_together": {
            "window": {"since": iso(from), "until": iso(to)},
            "metrics": together,
        },
        "feedback_history": feedback,
    });
    if let Some(f) = here.feedback {
        answer["feedback_on_this"] = json!(verdict_name(f));
    }
    // The incident this anomaly belongs to: one holding the metric, flagged around it.
    let around = |m: &crate::incident::Member| {
        m.batch == batch.name()
            && m.metric == args.metric
            && m.first_at - pad <= here.timestamp
            && here.timestamp <= m.last_at + pad
    };
    if let Some(i) = store
        .incidents(200)
        .await?
        .iter()
        .find(|i| i.members.iter().any(around))
    {
        answer["incident"] = json!({"id": i.id, "state": i.state.as_str(), "metrics": i.metrics()});
    }
    if let Some(t) = &here.tholdalert {
        answer["threshold_alert_detail"] = json!(t);
    }
    if let Some(l) = &here.llmalert {
        answer["llm_explanation"] = json!(l);
    }
    Ok(answer)
}

/// What each metric of a batch did between `from` and `to`: the kinds that flagged it and
/// its highest score.
async fn batch_activity(
    store: &Store,
    batch: &Batch,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<BTreeMap<String, (BTreeSet<&'static str>, Option<f64>)>, ToolError> {
    let mut out: BTreeMap<String, (BTreeSet<&'static str>, Option<f64>)> = BTreeMap::new();
    for kind in ANOMALY_KINDS.into_iter().chain([MetricType::Score]) {
        let rows = store
            .metric_window(&WindowQuery {
                table: &batch.spec.table_key,
                batch: batch.name(),
                metric_type: kind,
                max_n: crate::store::MAX_WINDOW_POINTS,
                since: Some(from),
                until: Some(to),
            })
            .await?;
        for r in rows {
            let entry = out.entry(r.name).or_default();
            if kind == MetricType::Score {
                entry.1 = Some(entry.1.map_or(r.value, |s: f64| s.max(r.value)));
            } else if r.value > 0.0 {
                entry.0.insert(kind_name(kind));
            }
        }
    }
    Ok(out)
}

/// The other metrics that alerted or scored at their threshold in the window: of the same
/// batch, and of other batches when they share a `metric_tags` value with `metric`.
async fn moved_together(
    store: &Store,
    config: &Config,
    batch: &Batch,
    metric: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<Value>, ToolError> {
    let mut out = Vec::new();
    let moved = |b: &Batch, name: &str, flags: &BTreeSet<&str>, max: Option<f64>| {
        !flags.is_empty() || max.is_some_and(|s| s >= b.spec.alert_rule_for(name).threshold)
    };
    for (name, (flags, max)) in batch_activity(store, batch, from, to).await? {
        if name != metric && moved(batch, &name, &flags, max) {
            out.push(json!({"batch": batch.name(), "metric": name, "kinds": flags, "max_score": max.map(round4)}));
        }
    }
    let Some(tags) = batch.spec.metric_tags.get(metric).filter(|t| !t.is_empty()) else {
        return Ok(out);
    };
    for other in config.batches.iter().filter(|b| b.name() != batch.name()) {
        let sharing: BTreeMap<&str, Vec<String>> = other
            .spec
            .metric_tags
            .iter()
            .filter_map(|(m, theirs)| {
                let shared: Vec<String> = tags
                    .iter()
                    .filter(|(k, v)| theirs.get(*k) == Some(*v))
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                        )
                    })
                    .collect();
                (!shared.is_empty()).then_some((m.as_str(), shared))
            })
            .collect();
        if sharing.is_empty() {
            continue;
        }
        for (name, (flags, max)) in batch_activity(store, other, from, to).await? {
            if let Some(shared) = sharing.get(name.as_str())
                && moved(other, &name, &flags, max)
            {
                out.push(
                    json!({"batch": other.name(), "metric": name, "kinds": flags,
                    "max_score": max.map(round4), "shared_tags": shared}),
                );
            }
        }
    }
    Ok(out)
}

/// People's 👍/👎 on this metric's alerts (since its last reset): counts and the newest five.
async fn feedback_history(store: &Store, batch: &Batch, metric: &str) -> Result<Value, ToolError> {
    let verdicts = store
        .verdicts(&batch.spec.table_key, batch.name(), Some(metric))
        .await?;
    let useful = verdicts
        .iter()
        .filter(|v| v.feedback == Feedback::Up)
        .count();
    Ok(json!({
        "useful": useful,
        "not_useful": verdicts.len() - useful,
        "latest": verdicts.iter().rev().take(5).map(|v| json!({
            "at": iso(v.timestamp), "verdict": verdict_name(v.feedback),
        })).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_runs_over_the_high_points_around_the_anomaly() {
        let high = [false, true, true, true, false, true];
        assert_eq!(
            episode(&high, 2),
            Episode {
                start: 1,
                end: 3,
                open: false
            }
        );
        // The point asked about belongs to its episode even when not high itself.
        assert_eq!(
            episode(&high, 4),
            Episode {
                start: 1,
                end: 5,
                open: true
            }
        );
        assert_eq!(
            episode(&[false, true], 1),
            Episode {
                start: 1,
                end: 1,
                open: true
            }
        );
    }

    #[test]
    fn magnitude_compares_with_the_median_before_the_episode() {
        // 24 values alternating 9 and 11, then a spike of 40 and its aftermath.
        let mut values: Vec<f64> = (0..24)
            .map(|i| if i % 2 == 0 { 9.0 } else { 11.0 })
            .collect();
        values.extend([40.0, 30.0]);
        let m = magnitude(&values, 24, 25).unwrap();
        assert_eq!(m.expected, 10.0);
        assert_eq!(m.deviation, 20.0);
        assert_eq!(m.relative, Some(2.0));
        // MAD of the baseline is 1, so the robust sd is 1.4826.
        assert!((m.robust_z.unwrap() - 20.0 / 1.4826).abs() < 1e-9);
        // The spike does not raise its own expectation.
        assert_eq!(magnitude(&values, 24, 24).unwrap().deviation, 30.0);
        // A flat baseline has no robust z; no history, no magnitude.
        assert_eq!(magnitude(&[5.0, 5.0, 9.0], 2, 2).unwrap().robust_z, None);
        assert_eq!(magnitude(&[5.0], 0, 0), None);
    }

    #[test]
    fn the_usual_interval_is_the_median_gap() {
        let t = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap().naive_utc();
        assert_eq!(usual_interval(&[t(0), t(300), t(600), t(3600)]), 300);
        assert_eq!(usual_interval(&[t(0)]), 0);
    }
}
