//! The portable model format: a versioned JSON document holding the detector kind and
//! parameters, its fitted state (float arrays as exact base64), the range of its training
//! scores, the preprocessing that produced its features, and when and on what it was trained.
//! Nothing depends on Rust's memory layout or version, so any build (or another language)
//! that knows the format can read it.

use serde::{Deserialize, Serialize};

use super::copod::CopodModel;
use super::ecod::EcodModel;
use super::forecast::SeasonalBandModel;
use super::hbos::HbosModel;
use super::iforest::IForestModel;
use super::knn::KnnModel;
use super::mad::MadModel;
use super::pca::PcaModel;
use super::zscore::ZScoreModel;
use super::{
    Calibration, DetectError, Detector, DetectorSpec, Features, Preprocess, RowScorer, ScoreMethod,
    ScoreRange, TrainingScores, median,
};

/// Bumped whenever older readers would misread or fail to read a model.
pub const MODEL_FORMAT_VERSION: u32 = 2;
/// Version 1 differs only in storing every matrix value by value, which version 2 reads too.
const OLDEST_READABLE_VERSION: u32 = 1;
const FORMAT_NAME: &str = "anomstack-model";

/// The fitted state of each detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "state")]
pub enum FittedDetector {
    #[serde(rename = "PCA")]
    Pca(PcaModel),
    #[serde(rename = "KNN")]
    Knn(KnnModel),
    #[serde(rename = "ECOD")]
    Ecod(EcodModel),
    #[serde(rename = "COPOD")]
    Copod(CopodModel),
    #[serde(rename = "HBOS")]
    Hbos(HbosModel),
    #[serde(rename = "IForest")]
    IForest(IForestModel),
    #[serde(rename = "MAD")]
    Mad(MadModel),
    #[serde(rename = "ZScore")]
    ZScore(ZScoreModel),
    #[serde(rename = "SeasonalBand")]
    SeasonalBand(SeasonalBandModel),
}

/// What the model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Feature rows used.
    pub rows: usize,
    /// Unix seconds of the first and last training row.
    pub first_timestamp: Option<i64>,
    pub last_timestamp: Option<i64>,
    /// Unix seconds of training.
    pub trained_at: i64,
}

/// A fitted detector with everything needed to score and calibrate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    pub format: String,
    pub version: u32,
    pub spec: DetectorSpec,
    pub fitted: FittedDetector,
    pub score_range: ScoreRange,
    pub calibration: Calibration,
    /// The median training score, when the fit produced every training score (the scale of
    /// `level`). Absent from older models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typical: Option<f64>,
    pub preprocess: Preprocess,
    pub training: TrainingInfo,
}

impl TrainedModel {
    /// Fits `spec` on `features`.
    pub fn train(
        spec: &DetectorSpec,
        preprocess: Preprocess,
        method: ScoreMethod,
        features: &Features,
        trained_at: i64,
    ) -> Result<Self, DetectError> {
        let (fitted, train_scores) = match spec {
            DetectorSpec::Pca(p) => fit_with(p, features, method, FittedDetector::Pca)?,
            DetectorSpec::Knn(p) => fit_with(p, features, method, FittedDetector::Knn)?,
            DetectorSpec::Ecod(p) => fit_with(p, features, method, FittedDetector::Ecod)?,
            DetectorSpec::Copod(p) => fit_with(p, features, method, FittedDetector::Copod)?,
            DetectorSpec::Hbos(p) => fit_with(p, features, method, FittedDetector::Hbos)?,
            DetectorSpec::IForest(p) => fit_with(p, features, method, FittedDetector::IForest)?,
            DetectorSpec::Mad(p) => fit_with(p, features, method, FittedDetector::Mad)?,
            DetectorSpec::ZScore(p) => fit_with(p, features, method, FittedDetector::ZScore)?,
            DetectorSpec::SeasonalBand(p) => {
                fit_with(p, features, method, FittedDetector::SeasonalBand)?
            }
        };
        let (score_range, calibration, typical) = match train_scores {
            TrainingScores::All(scores) => {
                let finite: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
                (
                    ScoreRange::of(&scores),
                    Calibration::fit(method, &scores),
                    Some(median(&finite)).filter(|m| m.is_finite()),
                )
            }
            TrainingScores::Range(range) => (range, Calibration::Linear, None),
        };
        Ok(Self {
            format: FORMAT_NAME.to_owned(),
            version: MODEL_FORMAT_VERSION,
            spec: spec.clone(),
            fitted,
            score_range,
            calibration,
            typical,
            preprocess,
            training: TrainingInfo {
                rows: features.x.rows(),
                first_timestamp: features.timestamps.first().copied(),
                last_timestamp: features.timestamps.last().copied(),
                trained_at,
            },
        })
    }

    /// Raw outlier scores of `rows`.
    pub fn raw_scores(&self, rows: &Features) -> Vec<f64> {
        self.scorer().score(rows)
    }

    /// A scorer that keeps what this model prepares, for scoring many batches.
    pub fn scorer(&self) -> Box<dyn RowScorer + '_> {
        match &self.fitted {
            FittedDetector::Knn(m) => Box::new(m.scorer()),
            FittedDetector::SeasonalBand(m) => Box::new(m.scorer()),
            _ => Box::new(Stateless(self)),
        }
    }

    fn stateless_scores(&self, rows: &Features) -> Vec<f64> {
        if rows.x.is_empty() {
            return Vec::new();
        }
        match &self.fitted {
            FittedDetector::Pca(m) => super::PcaParams::score(m, rows),
            FittedDetector::Knn(m) => super::KnnParams::score(m, rows),
            FittedDetector::Ecod(m) => super::EcodParams::score(m, rows),
            FittedDetector::Copod(m) => super::CopodParams::score(m, rows),
            FittedDetector::Hbos(m) => super::HbosParams::score(m, rows),
            FittedDetector::IForest(m) => super::IForestParams::score(m, rows),
            FittedDetector::Mad(m) => super::MadParams::score(m, rows),
            FittedDetector::ZScore(m) => super::ZScoreParams::score(m, rows),
            FittedDetector::SeasonalBand(m) => super::SeasonalBandParams::score(m, rows),
        }
    }

    /// Outlier probabilities of `rows` in [0, 1] (NaN where the detector has no answer).
    pub fn probabilities(&self, rows: &Features) -> Vec<f64> {
        self.raw_scores(rows)
            .into_iter()
            .map(|s| self.probability(s))
            .collect()
    }

    /// The probability of one raw score.
    pub fn probability(&self, raw: f64) -> f64 {
        self.calibration.probability(&self.score_range, raw)
    }

    /// Whether a raw score is beyond everything seen in training: above the training maximum
    /// by `margin` times the training scores' range. Such a point alerts at once. A model
    /// whose training scores were all equal has no scale to judge by: nothing is extreme.
    pub fn is_extreme(&self, raw: f64, margin: f64) -> bool {
        let ScoreRange { min, max } = self.score_range;
        let range = max - min;
        raw.is_finite()
            && range.is_finite()
            && range >= 10.0 * f64::EPSILON
            && raw > max + margin * range
    }

    /// How far beyond normal a raw score is: the score over the median training score.
    /// Unlike a probability it does not saturate, so feedback can tell a point just past the
    /// threshold from one far past it. (Measured on NAB against two alternatives, the score
    /// within the training range and its distance from the median in units of the 90th
    /// percentile's: the ratio loses no window where they lose two to five; BENCHMARKS.md.)
    /// None without a positive median (a model that keeps only its training range, or
    /// detectors whose scores are not distance-like) or for a score that is not finite.
    pub fn level(&self, raw: f64) -> Option<f64> {
        let typical = self.typical.filter(|t| *t > 0.0)?;
        Some(raw / typical).filter(|l| l.is_finite())
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain data to JSON cannot fail: every float that JSON cannot hold is
        // encoded as text by the codec.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a model, refusing other formats and versions with a clear error.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DetectError> {
        // One parse in the usual case; the envelope alone explains a document that does not
        // parse as a model of this version.
        let model = match serde_json::from_slice::<TrainedModel>(bytes) {
            Ok(model) => model,
            Err(e) => {
                check_envelope(bytes)?;
                return Err(DetectError::BadModel(e.to_string()));
            }
        };
        check_envelope_fields(Some(&model.format), Some(model.version))?;
        Ok(model)
    }
}

fn check_envelope(bytes: &[u8]) -> Result<(), DetectError> {
    #[derive(Deserialize)]
    struct Envelope {
        format: Option<String>,
        version: Option<u32>,
    }
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| DetectError::BadModel(e.to_string()))?;
    check_envelope_fields(envelope.format.as_ref(), envelope.version)
}

fn check_envelope_fields(format: Option<&String>, version: Option<u32>) -> Result<(), DetectError> {
    if format.map(String::as_str) != Some(FORMAT_NAME) {
        return Err(DetectError::BadModel(format!(
            "expected format \"{FORMAT_NAME}\", found {format:?}"
        )));
    }
    match version {
        Some(v) if (OLDEST_READABLE_VERSION..=MODEL_FORMAT_VERSION).contains(&v) => Ok(()),
        Some(found) => Err(DetectError::UnsupportedModelVersion {
            found,
            supported: MODEL_FORMAT_VERSION,
        }),
        None => Err(DetectError::BadModel("no version".into())),
    }
}

struct Stateless<'a>(&'a TrainedModel);

impl RowScorer for Stateless<'_> {
    fn score(&mut self, rows: &Features) -> Vec<f64> {
        self.0.stateless_scores(rows)
    }
}

fn fit_with<D: Detector>(
    detector: &D,
    features: &Features,
    method: ScoreMethod,
    wrap: impl FnOnce(D::Model) -> FittedDetector,
) -> Result<(FittedDetector, TrainingScores), DetectError> {
    let (model, scores) = detector.fit_for(features, method)?;
    Ok((wrap(model), scores))
}
