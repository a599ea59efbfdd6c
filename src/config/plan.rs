//! What a batch's settings mean to the jobs, worked out once when the batch loads: its
//! models (tag, detector, preprocessing) and its alert rule. A model config that does not
//! parse makes the batch invalid at load, never a failed run.

use super::BatchSpec;
use crate::detect::{DetectorSpec, Preprocess};

/// One model of a batch, ready to train: its tag, detector and preprocessing.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPlan {
    pub tag: String,
    pub detector: DetectorSpec,
    pub preprocess: Preprocess,
}

/// When a metric's scores make an alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertRule {
    /// Scores averaged into the smoothed score, the newest included; 0 or 1 means no smoothing.
    pub smooth_n: usize,
    pub threshold: f64,
    /// Only the newest this-many points may alert.
    pub recent_n: usize,
    /// Points after an alert during which the metric does not alert again.
    pub snooze_n: usize,
    /// Alert on the newest point whatever its score (for testing channels).
    pub always: bool,
}

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
            always: self.alert_always,
        }
    }
}
