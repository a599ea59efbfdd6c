//! A seasonal forecast band: MSTL (seasonal-trend decomposition, augurs) with an AutoETS trend
//! predicts each point from the training series, and the raw score is how far a value falls
//! outside the prediction interval, in half-widths of that interval (0 inside it). The season
//! length is configured or detected with a periodogram.
//!
//! Unlike the feature detectors this one models the level of the series in time, so it reads
//! the (resampled) values and timestamps of the rows. Fitted augurs models cannot be
//! serialized, so the model keeps the training series and refits when it scores; fitting is
//! cheap next to the I/O around it.

use augurs::ets::AutoETS;
use augurs::mstl::{FittedMSTLModel, MSTLModel};
use augurs::seasons::PeriodogramDetector;
use augurs::{Fit, Forecast, Predict};
use serde::{Deserialize, Serialize};

use super::stats::median;
use super::{DetectError, Detector, Features, RowScorer};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeasonalBandParams {
    /// Points per season (288 for daily seasonality of 5-minute data); detected when unset.
    pub season_length: Option<usize>,
    /// Coverage of the prediction interval.
    pub level: f64,
    /// Longest season the detector looks for.
    pub max_season_length: usize,
}

impl Default for SeasonalBandParams {
    fn default() -> Self {
        Self {
            season_length: None,
            level: 0.99,
            max_season_length: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeasonalBandModel {
    #[serde(with = "super::codec::floats")]
    pub values: Vec<f64>,
    pub timestamps: Vec<i64>,
    /// Season length in points; 0 when the series has none.
    pub period: usize,
    /// Typical seconds between points.
    pub step: i64,
    pub level: f64,
}

/// Longest horizon forecast when scoring points after the training window.
const MAX_HORIZON: usize = 10_000;

impl Detector for SeasonalBandParams {
    type Model = SeasonalBandModel;

    fn fit(&self, train: &Features) -> Result<(SeasonalBandModel, Vec<f64>), DetectError> {
        let n = train.values.len();
        if n < 8 {
            return Err(DetectError::NotEnoughRows { needed: 8, got: n });
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(DetectError::Params(format!(
                "level must be between 0 and 1, got {}",
                self.level
            )));
        }
        let period = match self.season_length {
            Some(p) => p,
            None => detect_period(&train.values, self.max_season_length),
        };
        let gaps: Vec<f64> = train
            .timestamps
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64)
            .collect();
        let model = SeasonalBandModel {
            values: train.values.clone(),
            timestamps: train.timestamps.clone(),
            period: if period >= 2 && n >= 2 * period {
                period
            } else {
                0
            },
            step: (median(&gaps).round() as i64).max(1),
            level: self.level,
        };
        let fitted = model.refit()?;
        let in_sample = fitted
            .predict_in_sample(model.level)
            .map_err(|e| DetectError::Model(e.to_string()))?;
        let scores = train
            .values
            .iter()
            .enumerate()
            .map(|(i, &y)| band_score(y, &in_sample, i))
            .collect();
        Ok((model, scores))
    }

    fn score(model: &SeasonalBandModel, rows: &Features) -> Vec<f64> {
        model.scorer().score(rows)
    }
}

/// Scores with the MSTL model fitted once and forecasts kept for later calls.
pub struct SeasonalScorer<'a> {
    model: &'a SeasonalBandModel,
    fitted: Option<(FittedMSTLModel, Forecast)>,
    ahead: Option<Forecast>,
    failed: bool,
}

impl SeasonalBandModel {
    pub fn scorer(&self) -> SeasonalScorer<'_> {
        SeasonalScorer {
            model: self,
            fitted: None,
            ahead: None,
            failed: false,
        }
    }
}

impl RowScorer for SeasonalScorer<'_> {
    fn score(&mut self, rows: &Features) -> Vec<f64> {
        match self.try_score(rows) {
            Ok(scores) => scores,
            Err(e) => {
                if !self.failed {
                    tracing::warn!(error = %e, "seasonal band could not score; scores are missing");
                    self.failed = true;
                }
                vec![f64::NAN; rows.values.len()]
            }
        }
    }
}

impl SeasonalScorer<'_> {
    fn try_score(&mut self, rows: &Features) -> Result<Vec<f64>, DetectError> {
        let model = self.model;
        if self.fitted.is_none() {
            let fitted = model.refit()?;
            let in_sample = fitted
                .predict_in_sample(model.level)
                .map_err(|e| DetectError::Model(e.to_string()))?;
            self.fitted = Some((fitted, in_sample));
        }
        let last = *model.timestamps.last().unwrap_or(&0);
        let horizon_of = |t: i64| -> usize {
            (((t - last) as f64 / model.step as f64).round() as usize).clamp(1, MAX_HORIZON)
        };
        let horizon = rows
            .timestamps
            .iter()
            .filter(|&&t| t > last)
            .map(|&t| horizon_of(t))
            .max()
            .unwrap_or(0);
        let have = self.ahead.as_ref().map_or(0, |f| f.point.len());
        if horizon > have
            && let Some((fitted, _)) = &self.fitted
        {
            // Forecast further than asked, so a stream of later calls refits rarely.
            let h = (horizon * 2).clamp(horizon, MAX_HORIZON);
            self.ahead = Some(
                fitted
                    .predict(h, model.level)
                    .map_err(|e| DetectError::Model(e.to_string()))?,
            );
        }
        let Some((_, in_sample)) = &self.fitted else {
            return Ok(vec![f64::NAN; rows.values.len()]);
        };
        Ok(rows
            .timestamps
            .iter()
            .zip(&rows.values)
            .map(|(&t, &y)| {
                if t > last {
                    match &self.ahead {
                        Some(f) => band_score(y, f, horizon_of(t) - 1),
                        None => f64::NAN,
                    }
                } else {
                    match model.timestamps.binary_search(&t) {
                        Ok(i) => band_score(y, in_sample, i),
                        Err(_) => f64::NAN,
                    }
                }
            })
            .collect())
    }
}

impl SeasonalBandModel {
    fn refit(&self) -> Result<FittedMSTLModel, DetectError> {
        let periods = if self.period > 0 {
            vec![self.period]
        } else {
            vec![]
        };
        MSTLModel::new(periods, AutoETS::non_seasonal().into_trend_model())
            .fit(&self.values)
            .map_err(|e| DetectError::Model(e.to_string()))
    }
}

fn detect_period(values: &[f64], max_period: usize) -> usize {
    let n = values.len();
    if n < 16 {
        return 0;
    }
    // Remove the level and a linear trend first: their power sits at the longest periods and
    // would hide the season.
    let centred = detrend(values);
    let max = max_period.min(n / 3).max(5) as u32;
    PeriodogramDetector::builder()
        .min_period(4)
        .max_period(max)
        .build()
        .periodogram(&centred)
        .peaks(0.9)
        .max_by(|a, b| a.power.total_cmp(&b.power))
        .map_or(0, |p| refine_period(&centred, p.period as usize))
}

/// The periodogram's frequency grid is coarse (48 can come out as 46); the lag near it with the
/// highest autocorrelation is the season.
fn refine_period(centred: &[f64], rough: usize) -> usize {
    let n = centred.len();
    let lo = (rough * 4 / 5).max(2);
    let hi = (rough * 6 / 5 + 1).min(n / 2);
    (lo..=hi)
        .map(|lag| {
            let r: f64 = centred[lag..]
                .iter()
                .zip(centred)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / (n - lag) as f64;
            (lag, r)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(rough, |(lag, _)| lag)
}

/// The residuals of a least-squares line through the values.
fn detrend(values: &[f64]) -> Vec<f64> {
    let n = values.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = values.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, y) in values.iter().enumerate() {
        let dx = i as f64 - mean_x;
        sxy += dx * (y - mean_y);
        sxx += dx * dx;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    values
        .iter()
        .enumerate()
        .map(|(i, y)| y - mean_y - slope * (i as f64 - mean_x))
        .collect()
}

/// Distance outside the interval at `i`, in half-widths of the interval.
fn band_score(y: f64, forecast: &Forecast, i: usize) -> f64 {
    let Some(iv) = &forecast.intervals else {
        return f64::NAN;
    };
    let (Some(&lo), Some(&hi)) = (iv.lower.get(i), iv.upper.get(i)) else {
        return f64::NAN;
    };
    let half = ((hi - lo) / 2.0).max(f64::EPSILON * hi.abs().max(1.0));
    if y > hi {
        (y - hi) / half
    } else if y < lo {
        (lo - y) / half
    } else {
        0.0
    }
}
