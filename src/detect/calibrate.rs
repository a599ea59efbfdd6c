//! From raw outlier scores to probabilities: PyOD's `predict_proba(method="linear")`, a
//! min-max scaling against the detector's own training scores, clipped to [0, 1]. A score
//! above everything seen in training is 1; one below everything is 0.

use serde::{Deserialize, Serialize};

/// The range of a detector's training scores (NaNs ignored, as scikit-learn's MinMaxScaler
/// does). Stored with every model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreRange {
    #[serde(with = "super::codec::float")]
    pub min: f64,
    #[serde(with = "super::codec::float")]
    pub max: f64,
}

impl ScoreRange {
    pub fn of(scores: &[f64]) -> Self {
        let finite = scores.iter().copied().filter(|s| !s.is_nan());
        let (min, max) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
            (lo.min(s), hi.max(s))
        });
        if min > max {
            // every score was NaN
            Self {
                min: f64::NAN,
                max: f64::NAN,
            }
        } else {
            Self { min, max }
        }
    }

    /// The outlier probability of a raw score. A range narrower than 10 machine epsilons counts
    /// as 1, as in scikit-learn, so a detector whose training scores are all equal gives 0 for
    /// that score and 1 for anything above it. NaN stays NaN.
    pub fn probability(&self, score: f64) -> f64 {
        let mut range = self.max - self.min;
        if range < 10.0 * f64::EPSILON {
            range = 1.0;
        }
        let scale = 1.0 / range;
        let offset = -self.min * scale;
        let p = score * scale + offset;
        if p.is_nan() { p } else { p.clamp(0.0, 1.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_scaled_against_the_training_range_and_clipped() {
        let r = ScoreRange::of(&[1.0, 3.0, 2.0]);
        assert_eq!(r.probability(2.0), 0.5);
        assert_eq!(r.probability(10.0), 1.0);
        assert_eq!(r.probability(-5.0), 0.0);
        assert!(r.probability(f64::NAN).is_nan());
    }

    #[test]
    fn a_degenerate_range_counts_as_one() {
        let r = ScoreRange::of(&[4.0, 4.0]);
        assert_eq!(r.probability(4.0), 0.0);
        assert_eq!(r.probability(4.5), 0.5);
        let nan = ScoreRange::of(&[f64::NAN]);
        assert!(nan.probability(1.0).is_nan());
    }
}
