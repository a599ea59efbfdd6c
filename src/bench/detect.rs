//! `anomstack bench detect`: the train and score work of N metrics × P points, the way the
//! train and score jobs do it (preprocess, fit, serialize and reload each model, score the
//! newest points, combine, check the alert rule), on seeded synthetic series. It measures CPU
//! seconds on one thread and peak memory, next to the same loop in Python/PyOD
//! (`bench/pyod_baseline.py`).

use std::time::Instant;

use super::{cpu_seconds, gauss, peak_rss_mib, reset_peak_rss};
use crate::config::{BatchSpec, ModelPlan};
use crate::detect::AlertPoint;
use crate::detect::rng::Rng;
use crate::detect::rules::{AlertRule, alert_decisions};
use crate::detect::{Combination, FeatureCache, ScoreMethod, TrainedModel, combine};

/// One configuration's figures.
#[derive(Debug, Clone)]
pub struct BenchResult {
    pub label: String,
    pub metrics: usize,
    pub points: usize,
    pub train_cpu_s: f64,
    pub score_cpu_s: f64,
    pub wall_s: f64,
    pub peak_rss_mib: Option<f64>,
    pub model_bytes: usize,
    pub alerts: usize,
}

impl BenchResult {
    pub fn cpu_s(&self) -> f64 {
        self.train_cpu_s + self.score_cpu_s
    }

    pub fn metrics_per_second(&self) -> f64 {
        self.metrics as f64 / self.cpu_s().max(1e-9)
    }
}

/// What the loop needs from a batch config.
pub struct BenchConfig {
    pub label: String,
    pub models: Vec<ModelPlan>,
    pub score_method: ScoreMethod,
    pub combination: Combination,
    pub rule: AlertRule,
    pub train_max_n: usize,
    pub score_max_n: usize,
}

impl BenchConfig {
    pub fn from_batch(label: &str, spec: &BatchSpec) -> Result<Self, String> {
        Ok(Self {
            label: label.to_owned(),
            models: spec.models()?,
            score_method: spec.model_score_method,
            combination: spec.combination(),
            rule: spec.alert_rule(),
            train_max_n: spec.train_max_n,
            score_max_n: spec.score_max_n,
        })
    }
}

/// A daily-ish seasonal series with a random walk, noise and one to three spikes or level
/// shifts in its second half, every 5 minutes (the shape `bench/pyod_baseline.py` draws).
pub fn synthetic_series(rng: &mut Rng, points: usize) -> Vec<(i64, f64)> {
    let amplitude = 10.0 * (0.2 + 1.8 * rng.next_f64());
    let level = 10.0 + 990.0 * rng.next_f64();
    let mut walk = 0.0;
    let mut values: Vec<f64> = (0..points)
        .map(|t| {
            walk += 0.3 * gauss(rng);
            let season = amplitude * (2.0 * std::f64::consts::PI * t as f64 / 288.0).sin();
            level + season + walk + gauss(rng)
        })
        .collect();
    for _ in 0..1 + rng.below(3) {
        let i = points / 2 + rng.below(points - points / 2);
        let sign = if rng.next_f64() < 0.5 { -1.0 } else { 1.0 };
        if rng.next_f64() < 0.5 {
            values[i] += sign * (8.0 + 12.0 * rng.next_f64());
        } else {
            for v in &mut values[i..] {
                *v += sign * (5.0 + 10.0 * rng.next_f64());
            }
        }
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (1_704_067_200 + i as i64 * 300, v))
        .collect()
}

/// Runs the loop on the calling thread. Series are generated up front, outside the timing.
pub fn run(config: &BenchConfig, metrics: usize, points: usize, seed: u64) -> BenchResult {
    let mut rng = Rng::seeded(seed);
    let series: Vec<Vec<(i64, f64)>> = (0..metrics)
        .map(|_| synthetic_series(&mut rng, points))
        .collect();
    reset_peak_rss();
    let wall = Instant::now();
    let (mut train_cpu, mut score_cpu) = (0.0, 0.0);
    let mut model_bytes = 0;
    let mut alerts = 0;
    for points in &series {
        // Train job: the newest train_max_n points, one model per entry, stored and reloaded.
        let t0 = cpu_seconds();
        let train_points = &points[points.len().saturating_sub(config.train_max_n)..];
        let mut stored = Vec::new();
        let mut cache = FeatureCache::new(train_points);
        for plan in &config.models {
            let Ok(features) = cache.get(&plan.preprocess) else {
                continue;
            };
            if let Ok(model) = TrainedModel::train(
                &plan.detector,
                plan.preprocess,
                config.score_method,
                features,
                0,
            ) {
                let bytes = model.to_json();
                model_bytes += bytes.len();
                stored.push(bytes);
            }
        }
        let t1 = cpu_seconds();
        // Score job: load the models, score the newest score_max_n points, combine, alert.
        let score_points = &points[points.len().saturating_sub(config.score_max_n)..];
        let mut per_model: Vec<Vec<f64>> = Vec::new();
        let mut cache = FeatureCache::new(score_points);
        for bytes in &stored {
            let Ok(model) = TrainedModel::from_json(bytes) else {
                continue;
            };
            if let Ok(rows) = cache.get(&model.preprocess) {
                per_model.push(model.probabilities(rows));
            }
        }
        let n = per_model.iter().map(Vec::len).min().unwrap_or(0);
        let scores: Vec<f64> = (0..n)
            .map(|i| {
                let row: Vec<f64> = per_model.iter().map(|m| m[m.len() - n + i]).collect();
                combine(config.combination, &row)
            })
            .collect();
        let points: Vec<AlertPoint> = scores.iter().map(|s| AlertPoint::scored(*s)).collect();
        if !alert_decisions(&config.rule, &points, &vec![false; points.len()]).is_empty() {
            alerts += 1;
        }
        let t2 = cpu_seconds();
        train_cpu += t1 - t0;
        score_cpu += t2 - t1;
        drop(stored);
    }
    BenchResult {
        label: config.label.clone(),
        metrics,
        points,
        train_cpu_s: train_cpu,
        score_cpu_s: score_cpu,
        wall_s: wall.elapsed().as_secs_f64(),
        peak_rss_mib: peak_rss_mib(),
        model_bytes,
        alerts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::builtin_defaults_batch;

    #[test]
    fn synthetic_series_are_seeded_and_regular() {
        let a = synthetic_series(&mut Rng::seeded(1), 500);
        let b = synthetic_series(&mut Rng::seeded(1), 500);
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[1].0 - w[0].0 == 300));
    }

    #[test]
    fn the_loop_trains_and_scores_every_metric() {
        let spec = builtin_defaults_batch("bench").unwrap();
        let config = BenchConfig::from_batch("shipped", &spec).unwrap();
        let r = run(&config, 5, 400, 7);
        assert_eq!(r.metrics, 5);
        assert!(r.model_bytes > 0);
        // CPU time comes in scheduler ticks: a run this small may measure 0.
        assert!(r.wall_s > 0.0 && r.cpu_s() >= 0.0);
    }
}
