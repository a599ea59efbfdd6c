//! What a batch's settings mean to the jobs, worked out once when the batch loads: its
//! models (tag, detector, preprocessing) and its alert rule. A model config that does not
//! parse makes the batch invalid at load, never a failed run.

use super::BatchSpec;
use crate::detect::budget::AlertBudget;
pub use crate::detect::{AlertRule, ModelPlan};
use crate::detect::{DetectorSpec, FeedbackRule, ReplaySettings};

impl BatchSpec {
    /// The models of `model_configs`, each with its tag, detector and preprocessing.
    /// Validation has already checked that every entry parses, so an error here means the
    /// config was not validated.
    pub fn models(&self) -> Result<Vec<ModelPlan>, String> {
        let base = self.preprocess();
        self.model_configs
            .iter()
            .map(|m| {
                let mut preprocess = base;
                if let Some(o) = &m.preprocess_params {
                    preprocess.diff_n = o.diff_n.unwrap_or(base.diff_n);
                    preprocess.smooth_n = o.smooth_n.unwrap_or(base.smooth_n);
                    preprocess.lags_n = o.lags_n.unwrap_or(base.lags_n);
                    preprocess.center = o.center.unwrap_or(base.center);
                }
                Ok(ModelPlan {
                    tag: m.tag(),
                    detector: DetectorSpec::from_config(&m.model_name, &m.model_params)?,
                    preprocess,
                })
            })
            .collect()
    }

    /// The `alert_*` keys as a rule.
    pub fn alert_rule(&self) -> AlertRule {
        AlertRule {
            smooth_n: self.alert_smooth_n,
            threshold: self.alert_threshold,
            recent_n: self.alert_recent_n,
            snooze_n: self.alert_snooze_n,
            resolve_n: self.alert_resolve_n,
            always: self.alert_always,
            direction: self.alert_direction,
            min_abs_change: self.alert_min_abs_change,
            min_rel_change: self.alert_min_rel_change,
        }
    }

    /// How people's verdicts on alerts mute later ones.
    pub fn feedback_rule(&self) -> FeedbackRule {
        FeedbackRule {
            margin: self.feedback_margin,
            half_life_n: self.feedback_half_life_n as f64,
        }
    }

    /// The alert rule of one metric: the batch's, with the metric's `metric_alert_settings`.
    pub fn alert_rule_for(&self, metric: &str) -> AlertRule {
        let mut rule = self.alert_rule();
        if let Some(own) = self.metric_alert_settings.get(metric) {
            rule.direction = own.alert_direction.unwrap_or(rule.direction);
            rule.min_abs_change = own.alert_min_abs_change.unwrap_or(rule.min_abs_change);
            rule.min_rel_change = own.alert_min_rel_change.unwrap_or(rule.min_rel_change);
        }
        rule
    }

    /// The alert budget of `metric`: its own, else the batch's.
    pub fn alert_budget_for(&self, metric: &str) -> Option<AlertBudget> {
        self.metric_alert_settings
            .get(metric)
            .and_then(|own| own.alert_budget)
            .or(self.alert_budget)
    }

    /// How many usual intervals without data make `metric` stale (0: never).
    pub fn stale_after_n_for(&self, metric: &str) -> usize {
        self.metric_alert_settings
            .get(metric)
            .and_then(|own| own.stale_after_n)
            .unwrap_or(self.stale_after_n)
    }

    /// The settings of a walk-forward replay of this batch's detection (the backtest, and
    /// the scores of seeded history), retraining every `retrain_every` points.
    pub fn replay_settings(&self, retrain_every: usize) -> Result<ReplaySettings, String> {
        Ok(ReplaySettings {
            models: self.models()?,
            combination: self.combination(),
            score_method: self.model_score_method,
            // Every replayed point is the newest when it arrives.
            rule: AlertRule {
                recent_n: 1,
                ..self.alert_rule()
            },
            train_max_n: self.train_max_n,
            train_min_n: self.train_min_n,
            train_max_age: i64::from(self.train_metric_timestamp_max_days_ago) * 86_400,
            extreme_margin: self.alert_extreme_margin,
            feedback: self.feedback_rule(),
            retrain_every: retrain_every.max(1),
        })
    }
}
