//! Z-score: distance of the first feature column from its training mean in training standard
//! deviations. The simplest detector, for metrics that are roughly Gaussian around a level.

use serde::{Deserialize, Serialize};

use super::mad::nan_to_num;
use super::stats::mean;
use super::{DetectError, Detector, Features};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZScoreParams {}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZScoreModel {
    #[serde(with = "super::codec::float")]
    pub mean: f64,
    #[serde(with = "super::codec::float")]
    pub std: f64,
}

impl ZScoreModel {
    fn score_value(&self, v: f64) -> f64 {
        nan_to_num((v - self.mean).abs() / self.std)
    }
}

impl Detector for ZScoreParams {
    type Model = ZScoreModel;

    fn fit(&self, train: &Features) -> Result<(ZScoreModel, Vec<f64>), DetectError> {
        let values = train.x.column(0);
        if values.len() < 2 {
            return Err(DetectError::NotEnoughRows {
                needed: 2,
                got: values.len(),
            });
        }
        let m = mean(&values);
        let var = values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / values.len() as f64;
        let model = ZScoreModel {
            mean: m,
            std: var.sqrt(),
        };
        let scores = values.iter().map(|&v| model.score_value(v)).collect();
        Ok((model, scores))
    }

    fn score(model: &ZScoreModel, rows: &Features) -> Vec<f64> {
        rows.x
            .iter_rows()
            .map(|r| model.score_value(r[0]))
            .collect()
    }
}
